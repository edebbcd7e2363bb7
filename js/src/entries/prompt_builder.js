// Bundle entry: the prompt_builder view with the package stylesheet.
import css from "../styles.css";
import { render as draw } from "../prompt_builder.js";
import { injectStyle } from "../util.js";

export default {
  render(props) {
    injectStyle(props.el.ownerDocument, css);
    return draw(props);
  },
};
