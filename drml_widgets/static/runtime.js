/* drml-widgets bundle; sources sha256 6ed35d6fbc381cc2c233e971ff4084b1faaf7e0af836103371e8be8f3076b478 */
var e={};export{e as default};
