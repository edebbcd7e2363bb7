/* drml-widgets bundle; sources sha256 c8185eb658116731baed6205ad1739d82e0123a8c8f991fc57fad48e56c08445 */
var e={};export{e as default};
