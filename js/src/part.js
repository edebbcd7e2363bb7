// Bundle entry for a view that lives inside a Dashboard: the dashboard draws it, so this
// module stays tiny (every widget instance carries its module in saved notebook state).
export default {
  render({ el }) {
    el.textContent = "This view is part of a Dashboard; display the Dashboard, or create the widget on its own.";
  },
};
