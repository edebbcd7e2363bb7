/* drml-widgets bundle; sources sha256 f932d077cf06580dcc67ab054261b1bbc5556e3dddd4d18674d65d47adbe65a1 */
var e={};export{e as default};
