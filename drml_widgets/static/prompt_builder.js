/* drml-widgets bundle; sources sha256 6d3d1f2a8ae5af199317d76a2ed593d7e93b755f84467c57faf6f0dff7bf6ac0 */
var A=`/* drml-widgets: one stylesheet for every view; JupyterLab theme variables with plain fallbacks. */
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
`;function t(e,r={},...n){let o=document.createElement(e);for(let[a,s]of Object.entries(r||{}))if(s!=null)if(a==="dataset")Object.assign(o.dataset,s);else if(a==="style"&&typeof s=="object")Object.assign(o.style,s);else if(a.startsWith("on"))o.addEventListener(a.slice(2),s);else if(a==="attrs")for(let[l,b]of Object.entries(s))o.setAttribute(l,String(b));else o[a]=s;return T(o,n),o}function T(e,r){for(let n of r.flat())n==null||n===!1||e.appendChild(n instanceof Node?n:document.createTextNode(String(n)))}function m(e,...r){return e.replaceChildren(),T(e,r),e}var _=new WeakSet;function S(e,r){_.has(e)||(_.add(e),e.head.appendChild(t("style",{textContent:r,dataset:{drmlWidgets:"1"}})))}function y(e,r,n){let o=!1,a=()=>{o=!1,n()},s=()=>{o||(o=!0,(typeof requestAnimationFrame=="function"?requestAnimationFrame:setTimeout)(a))};for(let l of r)e.on(`change:${l}`,s);return()=>{for(let l of r)e.off(`change:${l}`,s)}}function c(e,r,n){e.set(r,n),e.save_changes()}function U(e){let r=t("progress",{max:1,value:0,className:"drml-progress"}),n=t("span",{className:"drml-status"}),o=t("div",{className:"drml-statusline"},r,n),a=()=>{let s=!!e.get("busy");r.style.visibility=s?"visible":"hidden";let l=e.get("progress");typeof l=="number"&&l>=0?r.value=l:r.removeAttribute("value"),n.textContent=e.get("status")||""};return a(),y(e,["busy","progress","status"],a),o}function x(e){return e.map(r=>({type:r.type,values:[...r.values]}))}function v(e,r){let n=t("input",{type:"text",placeholder:e,onkeydown:a=>{a.key==="Enter"&&o()}}),o=()=>{let a=n.value.trim();a&&(r(a),n.value="")};return t("span",{},n,t("button",{textContent:"add",onclick:o}))}function B(e,r,n){return t("span",{className:"drml-chip"},e,t("button",{textContent:"\xD7",title:n,onclick:r}))}function R({model:e,el:r}){r.classList.add("drml-widget","drml-prompt-builder");let n=t("div"),o=t("div"),a=t("input",{type:"checkbox",onchange:()=>c(e,"ensemble",a.checked)}),s=t("input",{type:"text",style:{width:"220px"},onchange:()=>c(e,"ensemble_phrase",s.value)}),l=t("select",{onchange:()=>c(e,"label_rule",l.value)}),b=t("span",{className:"drml-count"}),w=t("ul",{className:"drml-errors"}),N=t("ul",{className:"drml-prompts"}),E=t("button",{className:"drml-primary",textContent:"Use these prompts",onclick:()=>e.send({type:"apply"})}),k=t("span",{className:"drml-muted"}),g=i=>c(e,"attributes",i);m(r,t("div",{className:"drml-toolbar"},t("span",{className:"drml-title"},"Prompt builder")),t("div",{className:"drml-row"},t("div",{className:"drml-grow"},t("div",{className:"drml-muted"},"attribute types and values"),n,v("new attribute type",i=>g([...x(e.get("attributes")),{type:i,values:[]}]))),t("div",{className:"drml-grow"},t("div",{className:"drml-muted"},"templates ({type} is replaced by a value)"),o,v("{size} {color} {shape}.",i=>c(e,"templates",[...e.get("templates"),i])),t("div",{className:"drml-toolbar",style:{marginTop:"8px"}},t("label",{},a,"CLIP's 80-template ensemble, over"),s),t("div",{className:"drml-toolbar"},t("label",{},"class is the value of",l)))),t("div",{className:"drml-toolbar"},b,E,k),U(e),w,t("div",{className:"drml-muted"},"sample prompts"),N);function L(){let i=e.get("attributes")||[];m(n,...i.map((d,f)=>t("div",{className:"drml-attr"},t("div",{className:"drml-attr-head"},t("strong",{},d.type),t("button",{textContent:"remove type",onclick:()=>g(x(i).filter((u,p)=>p!==f))})),t("div",{},...d.values.map((u,p)=>B(u,()=>{let j=x(i);j[f].values.splice(p,1),g(j)},`remove ${u}`)),v("value",u=>{let p=x(i);p[f].values.push(u),g(p)})))));let C=e.get("templates")||[];m(o,...C.map((d,f)=>t("div",{},B(d,()=>c(e,"templates",C.filter((u,p)=>p!==f)),"remove template")))),a.checked=!!e.get("ensemble"),s.value=e.get("ensemble_phrase")||"",s.disabled=!a.checked,m(l,...i.map(d=>t("option",{value:d.type,textContent:d.type}))),l.value=e.get("label_rule");let h=e.get("errors")||[];b.textContent=`${Number(e.get("count")).toLocaleString()} prompts (cap ${Number(e.get("max_prompts")).toLocaleString()})`,b.classList.toggle("drml-error",h.length>0),m(w,...h.map(d=>t("li",{},d))),m(N,...(e.get("samples")||[]).map(d=>t("li",{},d))),E.disabled=h.length>0||!!e.get("applied"),k.textContent=e.get("applied")?"the session uses these prompts":"not applied yet",r.dataset.drmlReady="1"}return L(),y(e,["attributes","templates","ensemble","ensemble_phrase","label_rule","count","errors","samples","applied","max_prompts"],L)}var W={render(e){return S(e.el.ownerDocument,A),R(e)}};export{W as default};
