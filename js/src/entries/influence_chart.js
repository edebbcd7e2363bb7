// Bundle entry: the influence_chart view with the package stylesheet.
import css from "../styles.css";
import { render as draw } from "../influence_chart.js";
import { injectStyle } from "../util.js";

export default {
  render(props) {
    injectStyle(props.el.ownerDocument, css);
    return draw(props);
  },
};
