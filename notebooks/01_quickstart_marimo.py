import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo

    from drml_widgets.session import Session
    from drml_widgets.widgets import GapPlot, RectifyPanel, SliceTable
    return GapPlot, RectifyPanel, Session, SliceTable, mo


@app.cell
def _(mo):
    mo.md("""
    # drml-widgets quickstart in marimo

    The core of `01_quickstart.ipynb`: a linear head trained on a biased split of the shapes world
    (orange triangles and green squares only), the modality gap, the slices that text finds wrong,
    and a fix trained on text alone. **Rectify** trains; **Undo** restores the previous weights.
    """)
    return


@app.cell
def _(Session):
    session = Session.from_shapes_world(n=2000, ensemble=False)  # renders, embeds and trains the biased head
    session
    return (session,)


@app.cell
def _(GapPlot, session):
    gap = GapPlot(session, color_by="color")
    gap
    return


@app.cell
def _(SliceTable, session):
    table = SliceTable(session, by=["color", "shape"])
    table.select(session.find_failing_slices(["color", "shape"]))
    table
    return (table,)


@app.cell
def _(RectifyPanel, session, table):
    panel = RectifyPanel(session, table=table, epochs=30)
    panel
    return


if __name__ == "__main__":
    app.run()
