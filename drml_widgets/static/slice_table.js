/* drml-widgets bundle; sources sha256 6d3d1f2a8ae5af199317d76a2ed593d7e93b755f84467c57faf6f0dff7bf6ac0 */
var U=`/* drml-widgets: one stylesheet for every view; JupyterLab theme variables with plain fallbacks. */
.drml-widget {
  --drml-fg: var(--jp-ui-font-color1, #1f2328);
  --drml-muted: var(--jp-ui-font-color2, #656d76);
  --drml-border: var(--jp-border-color2, #d0d7de);
  --drml-bg: var(--jp-layout-color1, #ffffff);
  --drml-bg2: var(--jp-layout-color2, #f6f8fa);
  --drml-accent: var(--jp-brand-color1, #0969da);
  --drml-error: var(--jp-error-color1, #cf222e);
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--drml-fg);
  background: var(--drml-bg);
  border: 1px solid var(--drml-border);
  border-radius: 8px;
  padding: 10px 12px;
  box-sizing: border-box;
  position: relative;
  min-width: 0;
}
.drml-widget * { box-sizing: border-box; }
.drml-title { font-weight: 600; font-size: 14px; margin: 0 8px 6px 0; }
.drml-muted { color: var(--drml-muted); }
.drml-error { color: var(--drml-error); }
.drml-toolbar { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-bottom: 8px; }
.drml-toolbar label { display: inline-flex; gap: 5px; align-items: center; }
.drml-widget select, .drml-widget input[type=text], .drml-widget input[type=number], .drml-widget input[type=search] {
  font: inherit; color: inherit; background: var(--drml-bg); border: 1px solid var(--drml-border);
  border-radius: 5px; padding: 3px 6px;
}
.drml-widget input[type=number] { width: 84px; }
.drml-widget button {
  font: inherit; border: 1px solid var(--drml-border); background: var(--drml-bg2); color: inherit;
  border-radius: 5px; padding: 3px 10px; cursor: pointer;
}
.drml-widget button.drml-primary { background: var(--drml-accent); border-color: var(--drml-accent); color: #fff; font-weight: 600; }
.drml-widget button:disabled { opacity: 0.45; cursor: default; }
.drml-statusline { display: flex; gap: 8px; align-items: center; min-height: 22px; }
.drml-progress { width: 160px; height: 10px; }
.drml-status { color: var(--drml-muted); }
.drml-row { display: flex; gap: 12px; align-items: flex-start; flex-wrap: wrap; }
.drml-grow { flex: 1 1 420px; min-width: 0; }
.drml-side { flex: 0 1 280px; min-width: 220px; }
.drml-note { font-size: 12px; color: var(--drml-muted); margin-top: 4px; }

/* gap plot */
.drml-plot { width: 100%; height: 440px; overflow: hidden; }
.drml-tooltip {
  position: absolute; pointer-events: none; z-index: 10; max-width: 260px; display: none;
  background: var(--drml-bg); border: 1px solid var(--drml-border); border-radius: 6px;
  padding: 6px 8px; box-shadow: 0 4px 14px rgba(0, 0, 0, 0.18); font-size: 12px;
}
.drml-tooltip img { display: block; width: 96px; height: 96px; image-rendering: pixelated; margin-top: 4px; border-radius: 4px; }
.drml-stats { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.drml-stats td, .drml-stats th { padding: 3px 6px; border-bottom: 1px solid var(--drml-border); text-align: left; }
.drml-stats td.num { text-align: right; }

/* slice table */
.drml-table-wrap { max-height: 360px; overflow: auto; border: 1px solid var(--drml-border); border-radius: 6px; }
.drml-table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.drml-table th { position: sticky; top: 0; background: var(--drml-bg2); cursor: pointer; user-select: none; white-space: nowrap; }
.drml-table th, .drml-table td { padding: 4px 8px; border-bottom: 1px solid var(--drml-border); text-align: left; }
.drml-table td.num { text-align: right; }
.drml-table tr.drml-focus td { background-color: rgba(9, 105, 218, 0.10); }
.drml-table tr.drml-focus td:first-child { box-shadow: inset 3px 0 0 var(--drml-accent); }
.drml-table tbody tr { cursor: pointer; }
.drml-table tbody tr:hover { background: var(--drml-bg2); }
.drml-any { color: var(--drml-muted); }
.drml-thumbs { display: flex; flex-wrap: wrap; gap: 4px; margin: 6px 0; min-height: 64px; }
.drml-thumbs img { width: 64px; height: 64px; image-rendering: pixelated; border-radius: 4px; border: 1px solid var(--drml-border); }
.drml-prompts { margin: 4px 0 0 0; padding-left: 18px; }
.drml-chip {
  display: inline-flex; align-items: center; gap: 4px; border: 1px solid var(--drml-border);
  background: var(--drml-bg2); border-radius: 12px; padding: 1px 8px; margin: 2px 4px 2px 0;
}
.drml-chip button { border: none; background: none; padding: 0 2px; line-height: 1; }

/* prompt builder */
.drml-attr { border: 1px solid var(--drml-border); border-radius: 6px; padding: 6px 8px; margin-bottom: 6px; }
.drml-attr-head { display: flex; gap: 8px; align-items: center; margin-bottom: 4px; }
.drml-count { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.drml-errors { margin: 4px 0; padding-left: 18px; color: var(--drml-error); }

/* dashboard */
.drml-dashboard { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; border: none; padding: 0; }
.drml-dashboard > .drml-span { grid-column: 1 / -1; }
@media (max-width: 900px) { .drml-dashboard { grid-template-columns: minmax(0, 1fr); } }
`;var H=/^([a-z_]+)\s*(<=|>=|<|>|=)\s*(-?[0-9.]+)$/i,Q={n:"n_images",prob:"text_prob",acc:"image_acc"};function z(e){let t=[],o=[],s=[];for(let a of String(e||"").trim().split(/\s+/).filter(Boolean)){let r=H.exec(a);r?o.push({column:Q[r[1].toLowerCase()]||r[1].toLowerCase(),op:r[2],value:Number(r[3])}):/[<>=]/.test(a)?s.push(`cannot read "${a}": write e.g. text_prob<0.5 or n>=20`):t.push(a.toLowerCase())}return{words:t,conditions:o,errors:s}}var X={"<":(e,t)=>e<t,">":(e,t)=>e>t,"<=":(e,t)=>e<=t,">=":(e,t)=>e>=t,"=":(e,t)=>e===t};function q(e,t){return e.filter(o=>{let s=Object.values(o.values||{}).map(a=>String(a).toLowerCase());return t.words.every(a=>s.some(r=>r.includes(a)))?t.conditions.every(a=>{let r=o[a.column];return typeof r=="number"&&X[a.op](r,a.value)}):!1})}function F(e,t,o=!1){let s=r=>t in(r.values||{})?r.values[t]:r[t],a=o?-1:1;return e.map((r,l)=>({row:r,i:l,v:s(r)})).sort((r,l)=>{let d=r.v===null||r.v===void 0||Number.isNaN(r.v),c=l.v===null||l.v===void 0||Number.isNaN(l.v);if(d||c)return d===c?r.i-l.i:d?1:-1;let g=typeof r.v=="number"&&typeof l.v=="number"?r.v-l.v:String(r.v).localeCompare(String(l.v));return g?a*g:r.i-l.i}).map(r=>r.row)}function n(e,t={},...o){let s=document.createElement(e);for(let[a,r]of Object.entries(t||{}))if(r!=null)if(a==="dataset")Object.assign(s.dataset,r);else if(a==="style"&&typeof r=="object")Object.assign(s.style,r);else if(a.startsWith("on"))s.addEventListener(a.slice(2),r);else if(a==="attrs")for(let[l,d]of Object.entries(r))s.setAttribute(l,String(d));else s[a]=r;return P(s,o),s}function P(e,t){for(let o of t.flat())o==null||o===!1||e.appendChild(o instanceof Node?o:document.createTextNode(String(o)))}function x(e,...t){return e.replaceChildren(),P(e,t),e}function Z(e){if(e==null)return new Uint8Array(0);if(e instanceof Uint8Array)return e;if(e instanceof ArrayBuffer)return new Uint8Array(e);if(ArrayBuffer.isView(e))return new Uint8Array(e.buffer,e.byteOffset,e.byteLength);if(typeof e=="string")return Uint8Array.from(atob(e),t=>t.charCodeAt(0));throw new TypeError(`not binary data: ${typeof e}`)}function $(e){if(e==null||Number.isNaN(e))return null;let t=Math.min(1,Math.max(0,e));return`hsla(${Math.round(120*t)}, 70%, 50%, 0.28)`}function L(e,t=3){return e==null||Number.isNaN(e)?"\u2014":Number(e).toFixed(t)}var I=new WeakSet;function M(e,t){I.has(e)||(I.add(e),e.head.appendChild(n("style",{textContent:t,dataset:{drmlWidgets:"1"}})))}var ee=1;function D(e,t,o=8e3){let s=ee++;return new Promise((a,r)=>{let l=setTimeout(()=>{e.off("msg:custom",d),r(new Error("no reply from the kernel (is it running?)"))},o);function d(c,g){!c||c.request!==s||(clearTimeout(l),e.off("msg:custom",d),c.error?r(new Error(c.error)):a([c,g||[]]))}e.on("msg:custom",d),e.send({...t,request:s})})}function W(e,t){let o=URL.createObjectURL(new Blob([Z(e)],{type:"image/jpeg"})),s=n("img",{alt:t||"",src:o});return s.addEventListener("load",()=>URL.revokeObjectURL(o),{once:!0}),s}function A(e,t,o){let s=!1,a=()=>{s=!1,o()},r=()=>{s||(s=!0,(typeof requestAnimationFrame=="function"?requestAnimationFrame:setTimeout)(a))};for(let l of t)e.on(`change:${l}`,r);return()=>{for(let l of t)e.off(`change:${l}`,r)}}function v(e,t,o){e.set(t,o),e.save_changes()}var Y=[["text_prob","text prob",!0],["text_acc","text acc",!0],["image_acc","image acc",!0],["n_images","n",!1],["n_prompts","prompts",!1]];function te(e){return Object.entries(e).filter(([,t])=>t!=="*").map(([t,o])=>`${t}=${o}`).join(", ")||"all"}function J({model:e,el:t}){t.classList.add("drml-widget","drml-slice-table");let o="text_prob",s=!1,a=n("input",{type:"search",placeholder:"filter: green triangle text_prob<0.5",style:{width:"260px"}}),r=n("span",{className:"drml-error"}),l=n("span",{className:"drml-muted"}),d=n("thead"),c=n("tbody"),g=n("div",{className:"drml-focus-box"}),T=n("button",{textContent:"select shown"}),O=n("button",{textContent:"clear selection"});x(t,n("div",{className:"drml-toolbar"},n("span",{className:"drml-title"},"Error slices"),l),n("div",{className:"drml-toolbar"},a,T,O,r),n("div",{className:"drml-table-wrap"},n("table",{className:"drml-table"},d,c)),g);let _=[],C=()=>new Set(e.get("selected")||[]);function K(p,b){let f=C();b?f.add(p):f.delete(p),v(e,"selected",[...f])}function y(){let p=e.get("columns")||[],b=e.get("rows")||[],f=z(a.value);r.textContent=f.errors.join("; "),_=F(q(b,f),o,s);let h=C(),w=e.get("focus"),m=e.get("spearman"),j=e.get("pearson");l.textContent=`${b.length} slices \xB7 head version ${e.get("version")}`+(m==null?"":` \xB7 Spearman ${L(m,2)}, Pearson ${L(j,2)} (text prob vs image acc)`)+(h.size?` \xB7 ${h.size} selected`:"");let N=i=>i===o?s?" \u25BC":" \u25B2":"",E=i=>()=>{s=i===o?!s:!1,o=i,y()};x(d,n("tr",{},n("th",{},""),...p.map(i=>n("th",{onclick:E(i)},i+N(i))),...Y.map(([i,k])=>n("th",{onclick:E(i),dataset:{col:i}},k+N(i))))),x(c,..._.map(i=>{let k=n("input",{type:"checkbox",checked:h.has(i.key),onclick:u=>{u.stopPropagation(),K(i.key,k.checked)}});return n("tr",{className:i.key===w?"drml-focus":"",dataset:{key:i.key},onclick:()=>v(e,"focus",i.key)},n("td",{},k),...p.map(u=>n("td",{className:i.values[u]==="*"?"drml-any":""},i.values[u]==="*"?"any":i.values[u])),...Y.map(([u,,B])=>n("td",{className:"num",dataset:{col:u},style:B&&$(i[u])?{background:$(i[u])}:{}},B?L(i[u]):i[u]??"\u2014")))})),t.dataset.drmlReady="1"}let S=0;async function R(){let p=e.get("focus"),b=(e.get("rows")||[]).find(m=>m.key===p);if(!b){x(g,n("div",{className:"drml-note"},"Click a row to see its images and prompts; tick rows to rectify them."));return}let f=e.get("focus_rows")||[],h=n("div",{className:"drml-thumbs"},f.length?n("span",{className:"drml-muted"},"loading thumbnails\u2026"):n("span",{className:"drml-muted"},"no images in this slice"));if(x(g,n("div",{className:"drml-title"},`${te(b.values)}: ${b.n_images} images, ${b.n_prompts} prompts`),h,n("div",{className:"drml-muted"},"sample prompts"),n("ul",{className:"drml-prompts"},...(e.get("focus_prompts")||[]).map(m=>n("li",{},m)))),!f.length)return;let w=++S;try{let[m,j]=await D(e,{type:"thumbs",rows:f});if(w!==S)return;x(h,...j.map((N,E)=>W(N,`image ${m.rows[E]}`)))}catch(m){w===S&&x(h,n("span",{className:"drml-muted"},`thumbnails: ${m.message}`))}}a.addEventListener("input",y),T.addEventListener("click",()=>v(e,"selected",[...new Set([...C(),..._.map(p=>p.key)])])),O.addEventListener("click",()=>v(e,"selected",[])),y(),R();let V=[A(e,["rows","columns","selected","focus","version","spearman"],y),A(e,["focus","focus_rows","focus_prompts"],R)];return()=>V.forEach(p=>p())}var pe={render(e){return M(e.el.ownerDocument,U),J(e)}};export{pe as default};
