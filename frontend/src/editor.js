// Every PromQL box is Prometheus's own CodeMirror 6 editor (codemirror-promql): highlighting,
// linting, and completion of functions, metric and label names from guardia's API.
// The editor mirrors its text into the original <textarea>, so forms submit as before.
import { EditorView, keymap, placeholder as cmPlaceholder } from '@codemirror/view';
import { EditorState } from '@codemirror/state';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { autocompletion, completionKeymap, closeBrackets } from '@codemirror/autocomplete';
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching } from '@codemirror/language';
import { lintKeymap } from '@codemirror/lint';
import { PromQLExtension } from '@prometheus-io/codemirror-promql';

function apiBase() {
  return document.body.dataset.prefix || '';
}

export function initEditors(root) {
  for (const ta of root.querySelectorAll('textarea[data-promql]')) attach(ta);
}

function attach(ta) {
  const promql = new PromQLExtension().setComplete({
    remote: { url: window.location.origin + apiBase(), httpMethod: 'GET', cache: { maxAge: 60000 } },
  });
  const submit = () => {
    if (ta.form) ta.form.requestSubmit();
    return true;
  };
  const view = new EditorView({
    state: EditorState.create({
      doc: ta.value,
      extensions: [
        history(),
        closeBrackets(),
        bracketMatching(),
        autocompletion({ activateOnTyping: true }),
        syntaxHighlighting(defaultHighlightStyle),
        cmPlaceholder(ta.getAttribute('placeholder') || 'PromQL expression'),
        keymap.of([
          { key: 'Enter', run: submit },
          { key: 'Shift-Enter', run: () => false },
          ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap,
        ]),
        promql.asExtension(),
        EditorView.lineWrapping,
        EditorView.updateListener.of((u) => {
          if (u.docChanged) ta.value = u.state.doc.toString();
        }),
      ],
    }),
  });
  view.dom.classList.add('promql-editor');
  ta.hidden = true;
  ta.after(view.dom);
  ta.editorView = view;
}
