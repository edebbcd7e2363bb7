/* drml-widgets bundle; sources sha256 eda81763a17abf5dcb188758e3880111e32a1f22905b4cf93c835a6255ca93ea */
var e={};export{e as default};
