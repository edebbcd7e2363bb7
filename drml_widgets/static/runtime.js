/* drml-widgets bundle; sources sha256 502eeb207eeae2bf3dc6fbc5b0f31fa1c24a743f9cca4dcc424fd8303eebdec1 */
var e={};export{e as default};
