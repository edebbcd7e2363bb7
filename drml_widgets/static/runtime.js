/* drml-widgets bundle; sources sha256 814f71ead60c03ca756fd816018ac9526fe4dd9d88d6c5cc1e258b0167d1b896 */
var e={};export{e as default};
