/* drml-widgets bundle; sources sha256 3f7d5d7322928049f442a7db1a8db806e1020c87aa329e769c2062d1b316c3df */
var e={};export{e as default};
