// Sentinel: a link to the dashboard in Orthanc Explorer (appended to its explorer.js by
// orthanc.ExtendOrthancExplorer). Orthanc Explorer is at <root>/app/explorer.html, so the dashboard is
// at ../sentinel/ui/ whatever prefix a reverse proxy puts in front of Orthanc. On a patient, study,
// series or instance page the link opens that resource's Sentinel report instead.
(function () {
  'use strict';
  var LEVELS = { study: 'studies', series: 'series', instance: 'instances' };

  function target() {
    var m = /^#(study|series|instance)\?uuid=([0-9a-f-]+)/.exec(window.location.hash || '');
    return m ? '../sentinel/ui/#report=' + LEVELS[m[1]] + '/' + m[2] : '../sentinel/ui/';
  }

  function addLinks() {
    var headers = document.querySelectorAll('[data-role="header"], .ui-header');
    for (var i = 0; i < headers.length; i++) {
      var link = headers[i].querySelector('a.sentinel-link');
      if (!link) {
        link = document.createElement('a');
        link.className = 'sentinel-link ui-btn-right';
        link.setAttribute('data-role', 'button');
        link.setAttribute('data-ajax', 'false');
        link.setAttribute('rel', 'external');
        link.textContent = 'Sentinel';
        link.title = 'Sentinel: alerts and reports';
        link.style.cssText = 'position:absolute;right:10em;top:.4em;padding:.3em .8em;border-radius:.6em;' +
          'background:#8b1e1e;color:#fff;font-weight:bold;text-decoration:none;text-shadow:none;font-size:.9em';
        headers[i].appendChild(link);
      }
      link.href = target();
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', addLinks);
  } else {
    addLinks();
  }
  // jQuery Mobile swaps pages without reloading: refresh the links on every page change.
  window.addEventListener('hashchange', function () { setTimeout(addLinks, 50); });
  if (window.jQuery) {
    window.jQuery(document).on('pageshow', addLinks);
  }
})();
