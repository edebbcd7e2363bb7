/* drml-widgets bundle; sources sha256 712e3207a1678294e0d3652a411653829ed6880ca8bf3fd19992f56595991386 */
var e={};export{e as default};
