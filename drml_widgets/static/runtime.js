/* drml-widgets bundle; sources sha256 4229df637eb433dc28fc07b4ff50b982fcc314294142f3d4a2842858c0e46438 */
var e={};export{e as default};
