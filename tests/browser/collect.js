async (views) => {
  // views: null for everything; ['images'] (dark mode) or ['width'] (a phone) for what those views check.
  const want = k => !views || views.includes(k);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  // Images: force lazy ones to load, then wait for every one to settle.
  const imgs = [...document.querySelectorAll('img')];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r);
                          setTimeout(r, 5000); })));
  const se = document.scrollingElement;
  const out = {theme: document.documentElement.dataset.theme};
  if (want('images')) {
    out.images = imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, w: i.naturalWidth,
                                 inCell: !!i.closest('.cell_output, figure, .figure'),
                                 bg: getComputedStyle(i).backgroundColor}));
  }
  if (want('width')) {
    // Elements sticking out to the right that no scroll container clips: the culprits.
    const clipped = e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
    out.scrollWidth = se.scrollWidth;
    out.clientWidth = se.clientWidth;
    out.wide = se.scrollWidth <= se.clientWidth + 1 ? [] : [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect(); return r.right > se.clientWidth + 1 && r.width > 0 && !clipped(e);
    }).slice(0, 4).map(e => e.outerHTML.slice(0, 160));
  }
  if (!views) {
    const main = document.querySelector('main') || document.body;
    const clone = main.cloneNode(true);
    clone.querySelectorAll('pre, code, mjx-container, script, style, .cell_input').forEach(e => e.remove());
    const links = sel => [...document.querySelectorAll(sel)].map(a => ({
        href: a.getAttribute('href'), abs: a.href, text: a.innerText.trim(),
        title: a.getAttribute('title') || a.getAttribute('data-bs-original-title') || ''}));
    Object.assign(out, {
      text: clone.innerText,
      mathElements: document.querySelectorAll('.math').length,
      mathUntypeset: [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container'))
          .map(m => m.innerText.slice(0, 80)),
      mjx: document.querySelectorAll('mjx-container').length,
      mjxErrors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
          .map(e => e.getAttribute('data-mjx-error') || e.textContent),
      cells: [...document.querySelectorAll('div.cell')].map(c => ({
        classes: c.className,
        output: [...c.querySelectorAll('.cell_output, .output')].map(o => o.innerText).join('\n'),
      })),
      solutions: [...document.querySelectorAll('.solution')].map(s => {
        const body = s.querySelector('section, .admonition-body, details > :not(summary)');
        const r = body ? body.getBoundingClientRect() : null;
        return {tag: s.tagName, classes: s.className, open: s.tagName === 'DETAILS' ? s.open : null,
                bodyHeight: r ? r.height : null, bodyVisible: body ? body.checkVisibility() : null};
      }),
      sidebar: links('.bd-sidenav a'),
      buttons: links('.article-header-buttons a, .dropdown-launch-buttons a, .dropdown-download-buttons a'),
    });
  }
  return out;
}
