// MathJax settings for the site: the tutorials write maths as $...$ and $$...$$ (as Jupyter
// does), the Markdown pages through pymdownx.arithmatex (\(...\) and \[...\]).
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
  },
  options: {
    // never touch code: cells, listings and signatures may contain dollar signs
    skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"],
  },
};
