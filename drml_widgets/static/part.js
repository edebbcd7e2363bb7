/* drml-widgets bundle; sources sha256 814f71ead60c03ca756fd816018ac9526fe4dd9d88d6c5cc1e258b0167d1b896 */
var t={render({el:e}){e.textContent="This view is part of a Dashboard; display the Dashboard, or create the widget on its own."}};export{t as default};
