// People (agents), for administrators: search, create, and per person the name and compliance
// dates, badges, site grants, the authenticator enrolment (QR code shown once) and erasure.
// #/admin-people?q=… lists; #/admin-people?id=… shows one person.
import { grid, ID_PATTERN, idInput, nameInput, section, sensitive, syncNote } from './admin-lib.js';
import { api, el, field, formatTime, formHandler, toast, upload } from './lib.js';
import { navigate, registerPage } from './router.js';

const path = (id) => `/api/v1/people/${encodeURIComponent(id)}`;

function dateInput(name, value) {
  return el('input', { name, type: 'date', value: value ?? '' });
}

async function listView(view, params) {
  const search = el(
    'form',
    { className: 'filters', id: 'people-search' },
    field(
      'Search',
      el('input', { name: 'q', value: params.q ?? '', maxLength: 100, placeholder: 'name, id or badge' }),
    ),
    el('button', { type: 'submit' }, 'Search'),
  );
  formHandler(search, async ({ q }) => navigate('admin-people', q.trim() ? { q: q.trim() } : undefined));
  const create = el(
    'form',
    { className: 'filters', id: 'person-create' },
    field('Id', idInput('id', { placeholder: 'agent-…' })),
    field('Name', nameInput('displayName')),
    field('Background check', dateInput('backgroundCheckOn')),
    field('Training', dateInput('trainingOn')),
    el('button', { type: 'submit' }, 'Create person'),
  );
  formHandler(create, async (data) => {
    const body = { id: data.id, displayName: data.displayName };
    if (data.backgroundCheckOn) body.backgroundCheckOn = data.backgroundCheckOn;
    if (data.trainingOn) body.trainingOn = data.trainingOn;
    const person = await api('POST', '/api/v1/people', body);
    toast(`${person.displayName} created.`, 'success');
    navigate('admin-people', { id: person.id });
  });
  const query = new URLSearchParams({ limit: '200' });
  if (params.q) query.set('q', params.q);
  const { people } = await api('GET', `/api/v1/people?${query}`);
  const rows = people.map((p) =>
    el(
      'tr',
      { dataset: { person: p.id } },
      el('td', {}, el('a', { href: `#/admin-people?id=${encodeURIComponent(p.id)}` }, p.displayName)),
      el('td', {}, p.id),
      el('td', {}, String(p.activeBadges)),
      el('td', {}, p.sites.join(', ')),
      el('td', {}, p.totpEnrolled ? 'yes' : 'no'),
      el('td', {}, p.backgroundCheckOn ?? '—'),
      el('td', {}, p.trainingOn ?? '—'),
    ),
  );
  view.append(
    el('h2', {}, 'People'),
    search,
    grid(
      'people-table',
      ['Name', 'Id', 'Badges', 'Sites', 'Authenticator', 'Background check', 'Training'],
      rows,
    ),
    people.length === 0 ? el('p', { className: 'empty' }, 'Nobody matches.') : null,
    section('New person', create),
  );
}

/** The person's photo, shown beside their events to security staff; set and removed here. */
function photoSection(id, version, reload) {
  const current = version
    ? el('img', {
        className: 'photo',
        src: `${path(id)}/photo?v=${encodeURIComponent(version)}`,
        alt: 'Current photo',
        width: 96,
        height: 96,
      })
    : el('p', {}, 'No photo.');
  const form = el(
    'form',
    { className: 'inline', id: 'person-photo-upload' },
    field(
      'JPEG, PNG or WebP, at most 512 KiB',
      el('input', { name: 'photo', type: 'file', accept: 'image/jpeg,image/png,image/webp', required: true }),
    ),
    el('button', { type: 'submit', className: 'small' }, version ? 'Replace photo' : 'Upload photo'),
  );
  formHandler(form, async ({ photo }) => {
    await upload('PUT', `${path(id)}/photo`, photo);
    toast('Photo saved.', 'success');
    reload();
  });
  const remove = version
    ? el(
        'button',
        {
          type: 'button',
          className: 'small secondary',
          onclick: async () => {
            try {
              await api('DELETE', `${path(id)}/photo`);
              toast('Photo removed.', 'success');
              reload();
            } catch (error) {
              toast(error.message, 'error');
            }
          },
        },
        'Remove photo',
      )
    : undefined;
  return el('div', { id: 'person-photo' }, current, form, remove);
}

async function personView(view, id) {
  const [person, { photos }] = await Promise.all([api('GET', path(id)), api('GET', '/api/v1/photos')]);
  const photoVersion = photos.find((p) => p.person === id)?.version;
  const reload = () => navigate('admin-people', { id });
  const done = (message) => (result) => {
    toast(`${message}${syncNote(result?.sync)}`, result?.sync?.status === 'failed' ? 'error' : 'success');
    reload();
  };

  const edit = el(
    'form',
    { className: 'filters', id: 'person-edit' },
    field('Name', nameInput('displayName', { value: person.displayName })),
    field('Background check', dateInput('backgroundCheckOn', person.backgroundCheckOn)),
    field('Training', dateInput('trainingOn', person.trainingOn)),
    field(
      'May open the room for others',
      el('input', { name: 'mayOpenRoom', type: 'checkbox', checked: person.mayOpenRoom }),
    ),
    el('button', { type: 'submit' }, 'Save'),
  );
  formHandler(edit, async (data) => {
    // Only what was changed goes to the server: a stored value the form could not send back as it
    // is (a date older than the checks allow today) does not stand in the way of another change.
    const entered = {
      displayName: data.displayName,
      backgroundCheckOn: data.backgroundCheckOn || null,
      trainingOn: data.trainingOn || null,
      mayOpenRoom: data.mayOpenRoom === 'on',
    };
    const changes = Object.fromEntries(
      Object.entries(entered).filter(([key, value]) => value !== (person[key] ?? null)),
    );
    if (Object.keys(changes).length === 0) {
      toast('Nothing changed.', 'info');
      return;
    }
    done('Saved.')(await api('PATCH', path(id), changes));
  });

  const badgeRows = person.badges.map((b) =>
    el(
      'tr',
      { dataset: { badge: b.badge } },
      el('td', {}, b.badge),
      el('td', {}, b.status),
      el(
        'td',
        {},
        [
          b.validFrom && `from ${formatTime(b.validFrom)}`,
          b.validUntil && `until ${formatTime(b.validUntil)}`,
        ]
          .filter(Boolean)
          .join(' ') || 'always',
      ),
      el(
        'td',
        {},
        b.status === 'active'
          ? el(
              'button',
              {
                type: 'button',
                className: 'small danger',
                onclick: async () => {
                  try {
                    done(`Badge ${b.badge} revoked.`)(
                      await api('POST', `${path(id)}/badges/${encodeURIComponent(b.badge)}/revoke`),
                    );
                  } catch (error) {
                    toast(error.message, 'error');
                  }
                },
              },
              'Revoke',
            )
          : `revoked ${formatTime(b.revokedAt)}`,
      ),
    ),
  );
  const addBadge = el(
    'form',
    { className: 'inline', id: 'badge-add' },
    field(
      'Badge',
      el('input', { name: 'badge', required: true, maxLength: 64, pattern: '[A-Za-z0-9:_\\-]{1,64}' }),
    ),
    el('button', { type: 'submit', className: 'small' }, 'Add badge'),
  );
  formHandler(addBadge, async ({ badge }) =>
    done(`Badge ${badge} added.`)(await api('POST', `${path(id)}/badges`, { badge })),
  );

  const siteItems = person.sites.map((site) =>
    el(
      'li',
      { dataset: { site } },
      `${site} `,
      el(
        'button',
        {
          type: 'button',
          className: 'small secondary',
          onclick: async () => {
            try {
              done(`Site ${site} withdrawn.`)(
                await api('DELETE', `${path(id)}/sites/${encodeURIComponent(site)}`),
              );
            } catch (error) {
              toast(error.message, 'error');
            }
          },
        },
        'Withdraw',
      ),
    ),
  );
  const grant = el(
    'form',
    { className: 'inline', id: 'site-grant' },
    field('Site', el('input', { name: 'site', required: true, maxLength: 64, pattern: ID_PATTERN })),
    el('button', { type: 'submit', className: 'small' }, 'Grant site'),
  );
  formHandler(grant, async ({ site }) =>
    done(`Site ${site} granted.`)(await api('PUT', `${path(id)}/sites/${encodeURIComponent(site)}`)),
  );

  const totpBox = el('div', { id: 'person-totp' });
  const totpState = el(
    'p',
    {},
    person.totpEnrolled ? 'Set up.' : 'Not set up: the doors refuse this person until it is.',
  );
  const enrol = el(
    'button',
    {
      type: 'button',
      id: 'person-totp-start',
      onclick: async () => {
        enrol.disabled = true;
        try {
          const result = await sensitive(
            'POST',
            `${path(id)}/totp`,
            undefined,
            'Enrolling an authenticator needs your password and a fresh code.',
          );
          // Shown once: leaving the page drops it; the server cannot show it again.
          totpBox.replaceChildren(
            el(
              'p',
              {},
              `Let ${person.displayName} scan this now with their authenticator app. It is shown only once.${syncNote(result.sync)}`,
            ),
            el('img', {
              className: 'qr',
              id: 'person-qr',
              alt: `QR code for ${person.displayName}'s authenticator`,
              src: `data:image/svg+xml;base64,${btoa(result.qrSvg)}`,
            }),
            el(
              'details',
              {},
              el('summary', {}, 'Cannot scan? The setup key'),
              el('code', { className: 'secret' }, new URL(result.otpauthUri).searchParams.get('secret')),
            ),
            el(
              'button',
              {
                type: 'button',
                className: 'secondary',
                onclick: () =>
                  totpBox.replaceChildren(el('p', {}, 'Enrolled. The code cannot be shown again.')),
              },
              'Done, hide it',
            ),
          );
          enrol.hidden = true;
          totpState.textContent = 'Set up.';
        } catch (error) {
          enrol.disabled = false;
          toast(error.message, 'error');
        }
      },
    },
    person.totpEnrolled ? 'Replace authenticator (new QR code)' : 'Enrol authenticator (QR code)',
  );

  const erase = el(
    'form',
    { className: 'stack', id: 'person-erase' },
    field('Reference (ticket)', el('input', { name: 'reference', maxLength: 100 })),
    field(
      'Keep their events until their retention ends',
      el('input', { name: 'keepEvents', type: 'checkbox' }),
    ),
    field('Type the id to confirm', el('input', { name: 'confirm', required: true, maxLength: 64 })),
    el('button', { type: 'submit', className: 'danger' }, 'Erase this person'),
  );
  formHandler(erase, async (data) => {
    if (data.confirm !== id) throw new Error(`type ${id} to confirm`);
    const body = { keepEvents: data.keepEvents === 'on' };
    if (data.reference.trim()) body.reference = data.reference.trim();
    const { report, sync } = await sensitive(
      'POST',
      `${path(id)}/erase`,
      body,
      'Erasing a person needs your password and a fresh code.',
    );
    toast(
      `Erased: ${report.badges} badges, ${report.events} events, ${report.alarms} alarms.${syncNote(sync)}`,
      'success',
    );
    navigate('admin-people');
  });

  view.append(
    el('p', {}, el('a', { href: '#/admin-people' }, '← People')),
    el('h2', {}, `${person.displayName} (${person.id})`),
    section('Details', edit),
    section(
      'Photo',
      photoSection(id, photoVersion, () => navigate('admin-people', { id })),
    ),
    section('Badges', grid('badge-table', ['Badge', 'State', 'Valid', ''], badgeRows), addBadge),
    section('Sites', el('ul', { id: 'person-sites' }, ...siteItems), grant),
    section(
      'Authenticator',
      el('p', {}, person.totpEnrolled ? 'Set up.' : 'Not set up: the doors refuse this person until it is.'),
      enrol,
      totpBox,
    ),
    section('Erase (on request)', erase),
  );
}

registerPage({
  path: 'admin-people',
  title: 'People',
  roles: ['admin'],
  order: 65,
  async render(view, params) {
    try {
      if (params.id) await personView(view, params.id);
      else await listView(view, params);
    } catch (error) {
      view.append(el('p', { className: 'error' }, error.message));
    }
  },
});
