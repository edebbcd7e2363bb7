/* drml-widgets bundle; sources sha256 3a6c977d37f1ef598f08d0166eef99fbb05373b0ed0919cace8a26fc08b9b09e */
var e={};export{e as default};
