/* drml-widgets bundle; sources sha256 cd0670faf952e469b5b6ffe7a991aa65181536848d71840eb32d2aebacb5ed79 */
var e={};export{e as default};
