/* drml-widgets bundle; sources sha256 59024ed9dd259db682fd5f496328e0babe1cd89f65f3098f568006903eadef0e */
var e={};export{e as default};
