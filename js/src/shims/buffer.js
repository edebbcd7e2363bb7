// Browser stand-in for node's "buffer" module, which typedarray-pool (inside plotly's WebGL
// traces) asks for. Nothing in the browser is a node Buffer, so isBuffer is always false.
export const Buffer = {
  isBuffer: () => false,
  alloc: () => { throw new Error("node Buffer is not available in the browser"); },
};
