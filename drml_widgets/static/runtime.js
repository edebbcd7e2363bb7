/* drml-widgets bundle; sources sha256 6c18196c40b5bcf93b1fc3bbfdaec019a77b77768e2b6c434ec747ddfb9f4864 */
var e={};export{e as default};
