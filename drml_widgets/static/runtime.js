/* drml-widgets bundle; sources sha256 2db68fc14f0b9423b23771b89ad275c2ddf212de27ceede253fa5a8d28e87ede */
var e={};export{e as default};
