// MathJax 2.7 settings for the site. MathJax itself is shipped with the site (assets/mathjax/,
// added by docs/_hooks/mathjax.py from the jupyter-server-mathjax package): nothing is fetched
// from the network. The tutorials write maths as $...$ and $$...$$ (as Jupyter does), the
// Markdown pages through pymdownx.arithmatex (\(...\) and \[...\]).
window.MathJax = {
  // the one combined configuration the package ships: TeX + AMS input, HTML-CSS output
  config: ["TeX-AMS-MML_HTMLorMML-full.js"],
  tex2jax: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    // never touch code: cells, listings and signatures may contain dollar signs
    skipTags: ["script", "noscript", "style", "textarea", "pre", "code"],
  },
  // only the STIX web fonts are shipped: never look for local or TeX fonts, or image fonts
  "HTML-CSS": {
    availableFonts: [],
    preferredFont: null,
    webFont: "STIX-Web",
    imageFont: null,
  },
  messageStyle: "none",
};
