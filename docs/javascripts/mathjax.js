// MathJax reads the \( \) and \[ \] spans pymdownx.arithmatex (generic mode) leaves in the page.
window.MathJax = {
  tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true, processEnvironments: true },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" }
};
document$.subscribe(() => { MathJax.typesetPromise && MathJax.typesetPromise(); });
