// Bundle entry: the gap_plot view with the package stylesheet.
import css from "../styles.css";
import { render as draw } from "../gap_plot.js";
import { injectStyle } from "../util.js";

export default {
  render(props) {
    injectStyle(props.el.ownerDocument, css);
    return draw(props);
  },
};
