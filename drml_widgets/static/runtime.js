/* drml-widgets bundle; sources sha256 aed757cd9511f546e19794b78f4ff232243e13dc88f8d27270755a8067f878d5 */
var e={};export{e as default};
