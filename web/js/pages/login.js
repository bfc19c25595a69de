// "/login?next=<path>": the login form, shown when mltrackd has users and the
// browser has no session (or its session ended).  After a login it returns to
// the page the user wanted.
import { h, fill } from '../util.js';
import { ApiError } from '../api.js';
import { auth, login } from '../auth.js';

// Only a path of this dashboard: never another site ("//evil.example",
// "https://...") nor the login page itself.
export function safeNext(next) {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  const u = new URL(next, location.origin);
  if (u.origin !== location.origin || u.pathname === '/login' || u.pathname.startsWith('/api/')) return '/';
  return u.pathname + u.search + u.hash;
}

export async function render(main, ctx) {
  const next = safeNext(ctx.params.get('next'));
  if (auth.known && (!auth.enabled || auth.user)) {
    // Nothing to log in to, or logged in already.
    ctx.navigate(next, { replace: true });
    return;
  }
  document.title = 'Log in · mltrack';
  const user = h('input', { type: 'text', name: 'username', id: 'login-user', autocomplete: 'username',
    required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { type: 'password', name: 'password', id: 'login-pass', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary', text: 'Log in' });
  const msg = h('div', { class: 'login-msg', role: 'alert', 'aria-live': 'assertive', 'data-testid': 'login-error' });
  msg.hidden = true;
  const say = (text) => { fill(msg, text); msg.hidden = !text; };
  const form = h('form', { class: 'login', 'data-testid': 'login-form', novalidate: true },
    h('h1', { text: 'Log in to mltrack' }),
    ctx.params.get('expired') ? h('p', { class: 'muted', text: 'Your session ended. Log in again to go on.' }) : null,
    h('label', { for: 'login-user', text: 'User name' }), user,
    h('label', { for: 'login-pass', text: 'Password' }), pass,
    msg, submit);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!user.value || !pass.value) {
      say('Enter your user name and password.');
      (user.value ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    say('');
    try {
      await login(user.value, pass.value);
      pass.value = '';
      ctx.navigate(next, { replace: true });
    } catch (e) {
      submit.disabled = false;
      if (e instanceof ApiError && e.status === 401) {
        say('Wrong user name or password.');
        pass.value = '';
        pass.focus();
      } else if (e instanceof ApiError && e.status === 429) {
        say(`Too many attempts, try again in ${e.retryAfter || 'a few'} s.`);
      } else {
        say(e instanceof ApiError ? e.message : String(e && e.message ? e.message : e));
      }
    }
  });
  fill(main, form);
  user.focus();
}
