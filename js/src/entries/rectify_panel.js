// Bundle entry: the rectify_panel view with the package stylesheet.
import css from "../styles.css";
import { render as draw } from "../rectify_panel.js";
import { injectStyle } from "../util.js";

export default {
  render(props) {
    injectStyle(props.el.ownerDocument, css);
    return draw(props);
  },
};
