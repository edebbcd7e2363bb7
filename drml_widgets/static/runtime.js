/* drml-widgets bundle; sources sha256 7b2cfe5a1d27df558c50562dd488a9c723062ce08974ecd124ac4c1936187d9a */
var e={};export{e as default};
