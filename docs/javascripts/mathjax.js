// MathJax reads the \( \) and \[ \] spans pymdownx.arithmatex (generic mode) leaves in the page.
// It is loaded from the site itself (vendor/tex-svg.js, fetched by `make docs`) so the guide
// renders offline, and from the CDN when that file is missing.
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
  svg: { fontCache: "global" }
};
(function () {
  var here = document.currentScript.src.replace(/mathjax\.js(\?.*)?$/, "");
  var script = document.createElement("script");
  script.async = true;
  script.src = here + "vendor/tex-svg.js";
  script.onerror = function () {
    var cdn = document.createElement("script");
    cdn.async = true;
    cdn.src = "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-svg.js";
    document.head.appendChild(cdn);
  };
  document.head.appendChild(script);
})();
document$.subscribe(function () {
  if (window.MathJax && MathJax.typesetPromise) { MathJax.typesetPromise(); }
});
