/* drml-widgets bundle; sources sha256 43285502e7a34e622fa6efbaee327a1a7a196d379ec8fc3f5599fee2520e5167 */
var e={};export{e as default};
