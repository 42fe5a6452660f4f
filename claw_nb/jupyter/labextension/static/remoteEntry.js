// claw_nb's JupyterLab extension, written by hand as a federated module container, so it
// needs no build step: JupyterLab loads this file, calls init(shareScope) and
// get('./extension'), and activates the plugin below with the application.
//
// Page scripts cannot reach JupyterLab's application (it is not on window unless
// exposeAppInBrowser is set, and 4.6 asks before running a command-linker click), so the
// plugin is a bridge: the script of a live claw transcript (claw_nb/jupyter/js/transcript.js)
// dispatches a `claw-nb` CustomEvent on window, and the plugin acts with the application and
// cancels the event, which tells the script that it was heard. Without this extension the
// script falls back to a toast of its own. What the events can do is harmless from any page
// script: show or dismiss a notification, reload from disk an editor tab that has no unsaved
// changes.
(function () {
  'use strict';
  var NAME = 'claw-nb';

  function activate(app) {
    var notes = {}; // key -> the promise of the notification's id

    function execute(id, args) {
      return Promise.resolve(app.commands.execute(id, args)).catch(function (err) {
        console.warn('claw-nb: ' + id + ' failed', err);
        return null;
      });
    }
    function mainWidgets() {
      var list = [];
      for (var w of app.shell.widgets('main')) list.push(w);
      return list;
    }
    function documentsAt(path) {
      var seen = new Set();
      return mainWidgets().filter(function (w) {
        var ctx = w.context;
        if (!ctx || ctx.path !== path || seen.has(ctx)) return false;
        seen.add(ctx);
        return true;
      });
    }
    function notify(key, message, type, options) {
      dismiss(key);
      notes[key] = execute('apputils:notify', {message: message, type: type, options: options});
    }
    function dismiss(key) {
      var id = notes[key];
      delete notes[key];
      if (id) {
        id.then(function (value) {
          if (value) execute('apputils:dismiss-notification', {id: value});
        });
      }
    }

    app.commands.addCommand('claw-nb:show-run', {
      label: 'Show the claw transcript that waits for you',
      execute: function (args) {
        var node = document.querySelector(String(args.selector || ''));
        if (!node) return;
        var holder = mainWidgets().find(function (w) { return w.node.contains(node); });
        if (holder) app.shell.activateById(holder.id);
        // the page script waits for the activation to settle, then focuses the card
        var run = window.__clawNb && window.__clawNb.runs && window.__clawNb.runs[args.run];
        if (run && run.show) run.show();
        else node.scrollIntoView({block: 'center'});
      }
    });
    app.commands.addCommand('claw-nb:reload', {
      label: "Load claw's version from disk",
      execute: function (args) {
        documentsAt(String(args.path)).forEach(function (w) { w.context.revert(); });
        dismiss('changed-' + args.path);
      }
    });
    app.commands.addCommand('claw-nb:open', {
      label: 'Show the tab of a file claw changed',
      execute: function (args) {
        var docs = documentsAt(String(args.path));
        if (docs.length) app.shell.activateById(docs[0].id);
      }
    });

    function filesChanged(paths) {
      paths.forEach(function (path) {
        path = String(path);
        documentsAt(path).forEach(function (w) {
          var ctx = w.context;
          if (!ctx.model.dirty) {
            ctx.revert().then(function () {
              notify('reloaded-' + path, 'claw changed ' + path + ': its tab now shows the file ' +
                'as it is on disk.', 'info', {autoClose: 5000});
            });
            return;
          }
          notify('changed-' + path, 'claw changed ' + path + ' on disk, and its tab has unsaved ' +
            'changes. Saving the tab will ask before it overwrites claw\'s version.', 'warning', {
            autoClose: false,
            actions: [
              {label: "Load claw's version", commandId: 'claw-nb:reload', args: {path: path},
               caption: 'Drop the unsaved changes in the tab and show the file as it is on disk'},
              {label: 'Show', commandId: 'claw-nb:open', args: {path: path}}
            ]
          });
        });
      });
    }

    window.addEventListener('claw-nb', function (event) {
      var d = event.detail || {};
      if (d.kind === 'notify') {
        notify(String(d.key), String(d.message), d.type === 'warning' ? 'warning' : 'info', {
          autoClose: false,
          actions: [{label: 'Show', commandId: 'claw-nb:show-run',
                     args: {run: String(d.run || ''), selector: String(d.selector || '')}}]
        });
      } else if (d.kind === 'dismiss') {
        dismiss(String(d.key));
      } else if (d.kind === 'files-changed' && Array.isArray(d.paths)) {
        filesChanged(d.paths);
      } else {
        return;
      }
      event.preventDefault();
    });
    window.__clawNbLab = {version: 1};
  }

  var plugin = {
    id: 'claw-nb:bridge',
    description: 'Lets claw transcripts notify you and reload editor tabs of files claw changed.',
    autoStart: true,
    activate: activate
  };
  var modules = {
    './extension': function () { return {__esModule: true, default: [plugin]}; }
  };
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = {
    init: function () { return Promise.resolve(); },
    get: function (module) {
      return modules[module]
        ? Promise.resolve(modules[module])
        : Promise.reject(new Error(NAME + ' has no module ' + module));
    }
  };
})();
