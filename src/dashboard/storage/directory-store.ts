import type { Pool } from 'pg';
import type { Queryable } from './event-store.js';

/**
 * The operator's directory as administrators edit it: customers, sites, and per site rooms,
 * doors, badge readers and cameras (workstations have their own store). Each write creates the
 * entry or updates it in place, keyed by its id; references (a door's room, a reader's door, a
 * site's customer) must exist, which the database's foreign keys enforce.
 */
export interface Customer {
  id: string;
  name: string;
}
export interface Site {
  id: string;
  name: string;
  customer: string | null;
  timezone: string;
}
export interface Room {
  site: string;
  id: string;
  name: string;
}
export interface Door {
  site: string;
  id: string;
  name: string;
  room: string | null;
}
export interface Reader {
  site: string;
  id: string;
  name: string;
  door: string;
  direction: 'entry' | 'exit';
  model: string | null;
}
export interface Camera {
  site: string;
  id: string;
  name: string;
  room: string | null;
}

export interface Directory {
  customers: Customer[];
  sites: Site[];
  rooms: Room[];
  doors: Door[];
  readers: Reader[];
  cameras: Camera[];
}

/** Whether a write created the entry (true) or changed an existing one (false). */
type Upserted<T> = { entry: T; created: boolean };

export class DirectoryStore {
  constructor(private readonly pool: Pool) {}

  async all(): Promise<Directory> {
    const [customers, sites, rooms, doors, readers, cameras] = await Promise.all([
      this.pool.query<Customer>('SELECT id, name FROM customers ORDER BY id'),
      this.pool.query<Site>('SELECT id, name, customer_id AS customer, timezone FROM sites ORDER BY id'),
      this.pool.query<Room>('SELECT site, id, name FROM rooms ORDER BY site, id'),
      this.pool.query<Door>('SELECT site, id, name, room FROM doors ORDER BY site, id'),
      this.pool.query<Reader>('SELECT site, id, name, door, direction, model FROM readers ORDER BY site, id'),
      this.pool.query<Camera>('SELECT site, id, name, room FROM cameras ORDER BY site, id'),
    ]);
    return {
      customers: customers.rows,
      sites: sites.rows,
      rooms: rooms.rows,
      doors: doors.rows,
      readers: readers.rows,
      cameras: cameras.rows,
    };
  }

  putCustomer(c: Customer, db: Queryable = this.pool): Promise<Upserted<Customer>> {
    return this.upsert<Customer>(
      db,
      `INSERT INTO customers (id, name) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name
       RETURNING id, name, (xmax = 0) AS created`,
      [c.id, c.name],
    );
  }

  putSite(s: Site, db: Queryable = this.pool): Promise<Upserted<Site>> {
    return this.upsert<Site>(
      db,
      `INSERT INTO sites (id, name, customer_id, timezone) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, customer_id = EXCLUDED.customer_id,
         timezone = EXCLUDED.timezone
       RETURNING id, name, customer_id AS customer, timezone, (xmax = 0) AS created`,
      [s.id, s.name, s.customer, s.timezone],
    );
  }

  putRoom(r: Room, db: Queryable = this.pool): Promise<Upserted<Room>> {
    return this.upsert<Room>(
      db,
      `INSERT INTO rooms (site, id, name) VALUES ($1, $2, $3)
       ON CONFLICT (site, id) DO UPDATE SET name = EXCLUDED.name
       RETURNING site, id, name, (xmax = 0) AS created`,
      [r.site, r.id, r.name],
    );
  }

  putDoor(d: Door, db: Queryable = this.pool): Promise<Upserted<Door>> {
    return this.upsert<Door>(
      db,
      `INSERT INTO doors (site, id, name, room) VALUES ($1, $2, $3, $4)
       ON CONFLICT (site, id) DO UPDATE SET name = EXCLUDED.name, room = EXCLUDED.room
       RETURNING site, id, name, room, (xmax = 0) AS created`,
      [d.site, d.id, d.name, d.room],
    );
  }

  putReader(r: Reader, db: Queryable = this.pool): Promise<Upserted<Reader>> {
    return this.upsert<Reader>(
      db,
      `INSERT INTO readers (site, id, name, door, direction, model) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (site, id) DO UPDATE SET name = EXCLUDED.name, door = EXCLUDED.door,
         direction = EXCLUDED.direction, model = EXCLUDED.model
       RETURNING site, id, name, door, direction, model, (xmax = 0) AS created`,
      [r.site, r.id, r.name, r.door, r.direction, r.model],
    );
  }

  putCamera(c: Camera, db: Queryable = this.pool): Promise<Upserted<Camera>> {
    return this.upsert<Camera>(
      db,
      `INSERT INTO cameras (site, id, name, room) VALUES ($1, $2, $3, $4)
       ON CONFLICT (site, id) DO UPDATE SET name = EXCLUDED.name, room = EXCLUDED.room
       RETURNING site, id, name, room, (xmax = 0) AS created`,
      [c.site, c.id, c.name, c.room],
    );
  }

  private async upsert<T>(db: Queryable, sql: string, values: unknown[]): Promise<Upserted<T>> {
    const result = await db.query<T & { created: boolean }>(sql, values);
    const { created, ...entry } = result.rows[0] as T & { created: boolean };
    return { entry: entry as T, created };
  }
}
