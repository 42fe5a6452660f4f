// The page side of one live claw transcript. claw_nb.jupyter.page_scripts sends it in the
// run's script output (an application/javascript output, which JupyterLab runs for trusted
// outputs) and calls it with the run's id. It reads everything from the widget's DOM:
//   - the transcript's box follows the newest content while the person is at its bottom, and
//     the page follows while the transcript grows, unless the person reads or types elsewhere;
//   - when the run ends (.claw-done) the box and the page land on the final answer;
//   - a pending approval (.claw-approval holding a .claw-yes button) prefixes the tab's title,
//     raises a JupyterLab notification through the claw-nb lab extension (a toast of our own
//     when the extension is absent), answers y / n / a while the card has focus, and is
//     scrolled into view and focused unless the person is typing elsewhere;
//   - window.__clawNb.filesChanged tells the lab extension which files the agent changed, so
//     open editor tabs on them reload from disk (or say that they cannot).
// Everything is idempotent: the script output is rendered again on every update.
(function (rid) {
  'use strict';
  var PREFIX = '\u23f5 claw needs you \u00b7 ';
  var KEY_QUIET_MS = 1500; // a key pressed this recently: the person is typing, focus stays
  var claw = (window.__clawNb = window.__clawNb || {});
  claw.runs = claw.runs || {};
  claw.pending = claw.pending || {};
  claw.seen = claw.seen || {};

  // -- the page: once per page ------------------------------------------------------------
  function syncTitle() {
    var want = Object.keys(claw.pending).length > 0;
    var title = document.title;
    var has = title.indexOf(PREFIX) === 0;
    if (want && !has) document.title = PREFIX + title;
    else if (!want && has) document.title = title.slice(PREFIX.length);
  }
  claw.syncTitle = syncTitle;
  if (!claw.pageReady) {
    claw.pageReady = true;
    claw.lastKey = 0;
    // typing is keys that write (not Shift+Enter to run a cell, not arrows)
    document.addEventListener('keydown', function (e) {
      if (e.key.length === 1 || e.key === 'Backspace' || e.key === 'Delete') claw.lastKey = Date.now();
    }, true);
    // JupyterLab sets the title when the current tab changes: the prefix stays while asked
    var titleNode = document.querySelector('title');
    if (titleNode) {
      new MutationObserver(function () { claw.syncTitle(); }).observe(
        titleNode, {childList: true, characterData: true, subtree: true});
    }
    var style = document.createElement('style');
    style.textContent =
      '.claw-approval:focus{outline:2px solid var(--jp-brand-color1,#1976d2);outline-offset:2px}' +
      '.claw-keys{font-size:90%;color:var(--jp-ui-font-color2,#666);margin:2px 0 4px}' +
      '.claw-keys kbd{border:1px solid var(--jp-border-color1,#bbb);border-radius:3px;' +
      'padding:0 4px;font-family:var(--jp-code-font-family,monospace)}' +
      '.claw-toasts{position:fixed;top:40px;right:16px;z-index:10000;display:flex;' +
      'flex-direction:column;gap:8px;max-width:420px}' +
      '.claw-toast{background:var(--jp-layout-color1,#fff);color:var(--jp-ui-font-color1,#222);' +
      'border:1px solid var(--jp-warn-color1,#e0a800);border-left-width:6px;border-radius:4px;' +
      'box-shadow:0 2px 8px rgba(0,0,0,.25);padding:8px 10px;font-size:13px}' +
      '.claw-toast button{margin:6px 6px 0 0}';
    document.head.appendChild(style);
  }

  // The claw-nb lab extension listens for this event; it cancels it when it has acted.
  function bridge(detail) {
    try {
      return !window.dispatchEvent(new CustomEvent('claw-nb', {detail: detail, cancelable: true}));
    } catch (err) {
      return false;
    }
  }
  claw.bridge = bridge;

  function toast(key, message, actions) {
    dropToast(key);
    var holder = document.querySelector('.claw-toasts');
    if (!holder) {
      holder = document.createElement('div');
      holder.className = 'claw-toasts';
      document.body.appendChild(holder);
    }
    var box = document.createElement('div');
    box.className = 'claw-toast';
    box.setAttribute('role', 'alert');
    box.dataset.key = key;
    var text = document.createElement('div');
    text.textContent = message;
    box.appendChild(text);
    (actions || []).concat([{label: 'Dismiss', run: function () {}}]).forEach(function (a) {
      var button = document.createElement('button');
      button.textContent = a.label;
      button.className = 'jp-Button jp-mod-styled jp-mod-reject';
      button.addEventListener('click', function () { dropToast(key); a.run(); });
      box.appendChild(button);
    });
    holder.appendChild(box);
  }
  function dropToast(key) {
    document.querySelectorAll('.claw-toast').forEach(function (t) {
      if (t.dataset.key === key) t.remove();
    });
  }
  claw.toast = toast;
  claw.dropToast = dropToast;

  function editable(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function scrollerOf(el) {
    for (var p = el.parentElement; p; p = p.parentElement) {
      var overflow = getComputedStyle(p).overflowY;
      if ((overflow === 'auto' || overflow === 'scroll') && p.scrollHeight > p.clientHeight) {
        return p;
      }
    }
    return document.scrollingElement || document.documentElement;
  }

  // Scroll `scroller` so that [top, bottom] (viewport pixels) shows, its top first.
  function bringIntoView(scroller, top, bottom) {
    var view = scroller.getBoundingClientRect();
    var delta = 0;
    if (bottom > view.bottom - 8) delta = Math.min(bottom - view.bottom + 8, top - view.top - 8);
    if (top < view.top + 8) delta = top - view.top - 8;
    if (delta) scroller.scrollTop += delta;
  }

  // The API path (relative to the server's root) of an absolute path, or null.
  function apiPath(path) {
    var root = '';
    try {
      var node = document.getElementById('jupyter-config-data');
      root = JSON.parse(node.textContent).serverRoot || '';
    } catch (err) {
      return null;
    }
    root = root.replace(/\\/g, '/').replace(/\/+$/, '');
    path = path.replace(/\\/g, '/');
    if (!root || root.charAt(0) === '~') return null;
    return path.indexOf(root + '/') === 0 ? path.slice(root.length + 1) : null;
  }

  // Which tabs show `path` (their caption says "Path: ..."): for the toast without the extension
  function openTabs(paths) {
    var open = [];
    document.querySelectorAll('.lm-DockPanel-tabBar .lm-TabBar-tab').forEach(function (tab) {
      var m = /(?:^|\n)Path: (.*)/.exec(tab.title || '');
      if (m && paths.indexOf(m[1]) >= 0 && open.indexOf(m[1]) < 0) open.push(m[1]);
    });
    return open;
  }

  claw.filesChanged = function (seq, paths) {
    if (claw.seen[seq]) return;
    claw.seen[seq] = true;
    var api = paths.map(apiPath).filter(function (p) { return p; });
    if (!api.length || bridge({kind: 'files-changed', paths: api})) return;
    var open = openTabs(api);
    if (open.length) {
      toast('files-' + seq, 'claw changed ' + open.join(', ') + ' on disk. The open tab still ' +
        'shows the old text: use File > Reload from Disk before you edit it.');
    }
  };

  // -- this run -----------------------------------------------------------------------------
  var run = claw.runs[rid];
  if (!run) {
    run = claw.runs[rid] = {root: null};
    var keepAttached = null;
    (function wait(tries) {
      if (attach()) {
        // the output may be rendered again (a moved cell): attach to the new transcript
        keepAttached = setInterval(function () {
          if (run.done) clearInterval(keepAttached);
          else if (!run.root.isConnected) attach();
        }, 1000);
      } else if (tries < 600) {
        setTimeout(function () { wait(tries + 1); }, 50);
      } // else: no live transcript (a saved notebook reopened): nothing to do
    })(0);
  } else {
    attach();
  }

  function attach() {
    var root = document.querySelector('.claw-live-' + rid);
    if (!root) return false;
    if (root === run.root) return true;
    var box = root.querySelector('.claw-scroll');
    var approval = root.querySelector('.claw-approval');
    if (!box || !approval) return false; // its children render a moment later
    run.root = root;
    var stick = true; // the person is at the bottom of the box (or has not scrolled it)
    var anchor = null; // else: the element they read and its offset from the box's top
    var expected = null; // where our own last scroll left the box
    var lastHeight = root.getBoundingClientRect().height;
    var asking = false, focusedAt = 0, before = null;

    function fromBottom() {
      var content = box.firstElementChild;
      if (!content) return 0;
      return content.getBoundingClientRect().bottom - box.getBoundingClientRect().bottom;
    }
    function scrollBox(delta) {
      if (delta) box.scrollTop += delta;
      expected = box.scrollTop;
    }
    box.addEventListener('scroll', function () {
      if (expected !== null && Math.abs(box.scrollTop - expected) < 2) return; // ours
      expected = null;
      stick = fromBottom() < 24;
      anchor = null;
      if (!stick) {
        var top = box.getBoundingClientRect().top;
        var items = box.querySelectorAll('.claw-body > *');
        for (var i = 0; i < items.length; i++) {
          var r = items[i].getBoundingClientRect();
          if (r.bottom > top) { anchor = {el: items[i], offset: r.top - top}; break; }
        }
      }
    }, {passive: true});

    function follow() {
      if (run.done) return;
      if (stick) scrollBox(fromBottom());
      else if (anchor && anchor.el.isConnected) {
        scrollBox(anchor.el.getBoundingClientRect().top - box.getBoundingClientRect().top -
          anchor.offset);
      }
      // the page follows the growing transcript if its end was in view and nobody types
      var rect = root.getBoundingClientRect();
      var grown = rect.height - lastHeight;
      lastHeight = rect.height;
      if (grown <= 0 || editable(document.activeElement)) return;
      var scroller = scrollerOf(root);
      var view = scroller.getBoundingClientRect();
      var endWasInView = rect.bottom - grown <= view.bottom + 4 && rect.bottom - grown > view.top;
      if (endWasInView && rect.bottom > view.bottom) {
        bringIntoView(scroller, Math.max(rect.top, rect.bottom - view.height + 16), rect.bottom);
      }
    }

    function answerNode() {
      var marked = box.querySelector('.claw-answer');
      if (marked) return marked;
      var texts = box.querySelectorAll('.claw-text, .claw-final');
      return texts.length ? texts[texts.length - 1] : null;
    }
    // The run ended: the box shows the final answer from its start (with its Copy / Insert
    // rows below when they fit), and the page brings it into view if the person watched.
    function land() {
      var answer = answerNode();
      if (answer && run.landing && stick) {
        scrollBox(answer.getBoundingClientRect().top - box.getBoundingClientRect().top - 6);
      }
      var scroller = scrollerOf(root);
      var view = scroller.getBoundingClientRect();
      var rect = root.getBoundingClientRect();
      var watched = rect.bottom > view.top && rect.top < view.bottom;
      if (!watched || editable(document.activeElement)) return;
      var boxTop = box.getBoundingClientRect().top;
      var top = answer ? Math.max(answer.getBoundingClientRect().top, boxTop) : rect.top;
      bringIntoView(scroller, top, rect.bottom);
    }

    function hint() {
      if (approval.querySelector('.claw-keys')) return;
      var plan = !!approval.querySelector('.claw-plan-auto');
      var keys = plan
        ? [['y', 'accept edits'], ['a', 'auto'], ['n', 'keep planning']]
        : [['y', 'approve'], ['n', 'deny'], ['a', 'always allow']];
      var line = document.createElement('div');
      line.className = 'claw-keys';
      line.textContent = 'keys: ';
      keys.forEach(function (k, i) {
        var kbd = document.createElement('kbd');
        kbd.textContent = k[0];
        line.appendChild(kbd);
        line.appendChild(document.createTextNode(' ' + k[1] + (i < keys.length - 1 ? ' \u00b7 ' : '')));
      });
      approval.appendChild(line);
    }

    function reveal(focus) {
      var scroller = scrollerOf(root);
      var r = approval.getBoundingClientRect();
      if (r.height) bringIntoView(scroller, r.top, r.bottom);
      if (focus) {
        if (!approval.contains(document.activeElement)) before = document.activeElement;
        approval.focus({preventScroll: true});
        focusedAt = Date.now();
      }
    }
    // Asked for (Show): after the tab's activation, which focuses the notebook or its editor
    // a frame later; once more if that still took the focus and nothing was typed since.
    run.show = function () {
      requestAnimationFrame(function () {
        requestAnimationFrame(function () {
          reveal(true);
          var shownAt = focusedAt;
          setTimeout(function () {
            var here = approval.contains(document.activeElement);
            if (asking && !here && claw.lastKey < shownAt) reveal(true);
          }, 250);
        });
      });
    };

    function ask() {
      asking = true;
      claw.pending[rid] = true;
      syncTitle();
      var question = approval.querySelector('b');
      var gist = approval.querySelector('.claw-approval-gist');
      var message = 'claw needs you: ' +
        (question ? question.textContent.replace(/\?$/, '') : 'an approval') +
        (gist ? ' ' + gist.textContent : '') + '?';
      var selector = '.claw-live-' + rid + ' .claw-approval';
      if (!bridge({kind: 'notify', key: 'approval-' + rid, message: message, type: 'warning',
                   run: rid, selector: selector})) {
        toast('approval-' + rid, message, [{label: 'Show', run: function () { showRun(rid); }}]);
      }
      if (document.hidden && window.Notification && Notification.permission === 'granted') {
        try { new Notification('claw needs you', {body: message}); } catch (err) { /* ignore */ }
      }
      approval.tabIndex = -1;
      hint();
      var active = document.activeElement;
      var typing = (editable(active) && !root.contains(active)) ||
        Date.now() - claw.lastKey < KEY_QUIET_MS;
      var shown = root.getClientRects().length > 0; // its tab is in front
      if (shown && !typing) reveal(true);
    }

    function answered() {
      asking = false;
      delete claw.pending[rid];
      syncTitle();
      bridge({kind: 'dismiss', key: 'approval-' + rid});
      dropToast('approval-' + rid);
      var keys = approval.querySelector('.claw-keys');
      if (keys) keys.remove();
      var lost = !document.activeElement || document.activeElement === document.body;
      if (lost && before && before.isConnected && before.focus) before.focus({preventScroll: true});
      before = null;
    }

    approval.addEventListener('keydown', function (e) {
      if (!asking || e.ctrlKey || e.metaKey || e.altKey || editable(e.target)) return;
      if (e.key.length !== 1) return; // Tab, Enter, Escape, arrows: as usual
      // one-letter keys stay here: in command mode JupyterLab would act on the cell ("dd")
      e.stopPropagation();
      var selectors = {y: '.claw-yes', n: '.claw-no', a: '.claw-always, .claw-plan-auto'};
      var selector = selectors[e.key.toLowerCase()];
      var button = selector && approval.querySelector(selector);
      if (!button) return; // Space on a focused button presses it, as usual
      e.preventDefault();
      if (Date.now() - focusedAt < 300) return; // a key already on its way when focus came
      if (!button.disabled) button.click();
    });

    var bodyWatch = new MutationObserver(follow);
    bodyWatch.observe(box, {childList: true, subtree: true, characterData: true});
    var askWatch = new MutationObserver(function () {
      var waiting = !!approval.querySelector('.claw-yes');
      if (waiting && !asking) ask();
      else if (!waiting && asking) answered();
    });
    // a button gets its class (claw-yes) after it is in the page: watch classes too
    askWatch.observe(approval, {childList: true, subtree: true, attributes: true,
                                attributeFilter: ['class']});
    var endWatch = new MutationObserver(function () {
      var cls = root.classList;
      if (run.done || !(cls.contains('claw-done') || cls.contains('claw-dead'))) return;
      run.done = true;
      if (asking) answered();
      bodyWatch.disconnect();
      askWatch.disconnect();
      endWatch.disconnect();
      if (cls.contains('claw-dead')) return;
      // the box lands for a person who followed it (at its bottom), and lands again while the
      // last rows (Copy / Insert, notes) render, until they scroll
      run.landing = stick;
      land();
      var late = new MutationObserver(land);
      late.observe(box, {childList: true, subtree: true});
      setTimeout(function () { late.disconnect(); run.landing = false; }, 1500);
    });
    endWatch.observe(root, {attributes: true, attributeFilter: ['class']});
    if (approval.querySelector('.claw-yes')) ask();
    return true;
  }

  function showRun(id) {
    var other = claw.runs[id];
    var root = other && other.root;
    if (!root) return;
    // without the extension: bring the notebook's tab to the front by its tab-bar entry
    var panel = root.closest('.lm-DockPanel-widget');
    if (panel && panel.id && root.getClientRects().length === 0) {
      var tab = document.querySelector('.lm-TabBar-tab[data-id="' + panel.id + '"]');
      if (tab) { // Lumino selects a tab on a press that hits it
        var r = tab.getBoundingClientRect();
        var at = {bubbles: true, cancelable: true, button: 0, pointerId: 1, isPrimary: true,
                  clientX: r.left + r.width / 2, clientY: r.top + r.height / 2};
        var Press = window.PointerEvent || MouseEvent;
        tab.dispatchEvent(new Press('pointerdown', at));
        document.dispatchEvent(new Press('pointerup', at));
      }
    }
    if (other.show) other.show();
  }
  claw.showRun = showRun;
})
