/* drml-widgets bundle; sources sha256 2f13c1c383d46d2f0ba908715472389d14bc6de78f0c5302bf0e486cf5063615 */
var e={};export{e as default};
