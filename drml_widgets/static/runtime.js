/* drml-widgets bundle; sources sha256 f042f51219fa1fd21d11396d5c2de37777e4df046163642683adccd66a2bdd33 */
var e={};export{e as default};
