/* drml-widgets bundle; sources sha256 47241cb342dbda949c1999166ba87bc6843384cd2b49bd277b71e3e319f8e677 */
var e={};export{e as default};
