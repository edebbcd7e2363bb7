/* drml-widgets bundle; sources sha256 3f9bf0d22f26fe93d170924dc4495e0a17d2738e10291e5daecdc6aa3ad920d4 */
var e={};export{e as default};
