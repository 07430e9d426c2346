-- availability: the bookable start times of one service, with the staff free at each.
--
-- The one rule behind both the slot list and the booking check (API.md "Availability"):
-- the rules are written out in bookme/bookings/availability.py and implemented a second
-- time, independently, in bookme/bookings/reference.py; property tests compare the two.
--
-- Parameters (all bound; NULL where optional):
--   :service_id          uuid         the service; inactive or unknown -> service_found false
--   :tz                  text         the tenant's IANA time zone
--   :date_from, :date_to date         local dates, inclusive (NULL with :at)
--   :staff_ids           uuid[]       only these staff members (NULL = every qualified one)
--   :now                 timestamptz  the caller's clock (SQL never calls now())
--   :at                  timestamptz  only this start instant: the booking check
--   :exclude_booking_id  uuid         a booking to ignore (the one being rescheduled)
--
-- Result: one row per start instant, ordered by it, with the free staff as an array (by
-- display name then id; with :at, fewest active bookings that local day first); or one row
-- of NULLs when there is none. Every row says whether the service and the staff filter
-- matched something bookable.
WITH p AS (
    SELECT CAST(:service_id AS uuid) AS service_id,
           CAST(:tz AS text) AS tz,
           CAST(:staff_ids AS uuid[]) AS staff_ids,
           CAST(:now AS timestamptz) AS now,
           CAST(:at AS timestamptz) AS at,
           CAST(:exclude_booking_id AS uuid) AS exclude_id,
           COALESCE(CAST(:date_from AS date),
                    (CAST(:at AS timestamptz) AT TIME ZONE CAST(:tz AS text))::date - 1) AS date_from,
           COALESCE(CAST(:date_to AS date),
                    (CAST(:at AS timestamptz) AT TIME ZONE CAST(:tz AS text))::date) AS date_to
),
svc AS (
    -- Durations as intervals of minutes only (no day part), so arithmetic on instants is
    -- exact elapsed time whatever the session's TimeZone.
    SELECT s.id,
           make_interval(mins => s.duration_minutes) AS duration,
           make_interval(mins => s.buffer_before_minutes) AS before,
           make_interval(mins => s.buffer_after_minutes) AS after,
           make_interval(mins => s.slot_interval_minutes) AS step,
           p.now + make_interval(mins => s.min_notice_minutes) AS earliest,
           (p.now AT TIME ZONE p.tz)::date + s.max_advance_days AS last_day
    FROM p
    JOIN services s ON s.id = p.service_id AND s.is_active
),
members AS (
    SELECT st.id, st.display_name
    FROM p
    CROSS JOIN svc
    JOIN staff_services ss ON ss.service_id = svc.id
    JOIN staff st ON st.id = ss.staff_id AND st.is_active
    WHERE p.staff_ids IS NULL OR st.id = ANY (p.staff_ids)
),
days AS (
    -- The local dates asked for, up to the horizon (today + max_advance_days). A date's
    -- slots start on that date, or on the next one past a gap at midnight, so dates before
    -- the earliest allowed start's date minus one cannot have any. With :at, the dates
    -- whose slots can start at :at. `steady`: the date's clock keeps one offset all day
    -- (24 elapsed hours from midnight to midnight), as on every date but an offset change's.
    SELECT p.date_from + i AS day,
           (CAST(p.date_from + i + 1 AS timestamp) AT TIME ZONE p.tz)
             - (CAST(p.date_from + i AS timestamp) AT TIME ZONE p.tz) = interval '24 hours'
             AS steady
    FROM p
    CROSS JOIN svc
    CROSS JOIN generate_series(0, p.date_to - p.date_from) AS i
    WHERE p.date_from + i <= svc.last_day
      AND p.date_from + i >= (svc.earliest AT TIME ZONE p.tz)::date - 1
),
overridden AS MATERIALIZED (
    -- Bounded by the dates asked for, so each member's lookup reads only those dates of
    -- the primary key (staff_id, day), however many overrides the years have left behind.
    SELECT x.staff_id, x.day
    FROM p
    CROSS JOIN members m
    JOIN date_overrides x
      ON x.staff_id = m.id AND x.day BETWEEN p.date_from AND p.date_to
    JOIN days d ON d.day = x.day
),
shift_minutes AS (
    -- The date's override if it has one (no intervals = day off), else the weekly hours.
    SELECT o.staff_id, o.day, o.start_minute, o.end_minute
    FROM date_override_intervals o
    JOIN overridden x ON x.staff_id = o.staff_id AND x.day = o.day
    UNION ALL
    SELECT w.staff_id, d.day, w.start_minute, w.end_minute
    FROM working_hours w
    JOIN members m ON m.id = w.staff_id
    JOIN days d ON w.weekday = CAST(extract(isodow FROM d.day) AS smallint)
    WHERE NOT EXISTS (SELECT 1 FROM overridden x WHERE x.staff_id = w.staff_id AND x.day = d.day)
),
shifts AS (
    -- Local wall times to instants with PostgreSQL's reading, which is the documented rule:
    -- a time skipped by a spring-forward takes the offset from before the change (02:30 ->
    -- 03:30), a time repeated by a fall-back is its second occurrence. A shift whose end
    -- then lands before its start is empty.
    SELECT sm.staff_id, sm.day, tstzrange(t.s, greatest(t.s, t.e)) AS span
    FROM shift_minutes sm
    CROSS JOIN p
    CROSS JOIN LATERAL (
        SELECT (sm.day + make_interval(mins => sm.start_minute)) AT TIME ZONE p.tz AS s,
               (sm.day + make_interval(mins => sm.end_minute)) AT TIME ZONE p.tz AS e
    ) t
),
work AS MATERIALIZED (
    -- A date's working time: its shifts merged, so back-to-back shifts make one stretch.
    SELECT sh.staff_id, sh.day, range_agg(sh.span) AS hours, array_agg(sh.span) AS spans,
           d.steady
    FROM shifts sh
    JOIN days d ON d.day = sh.day
    GROUP BY sh.staff_id, sh.day, d.steady
),
win AS MATERIALIZED (
    -- Every instant a candidate's blocked range can touch.
    SELECT CASE WHEN p.at IS NULL
                THEN tstzrange(min(lower(sh.span)) - svc.before, max(upper(sh.span)) + svc.after)
                ELSE tstzrange(p.at - svc.before, p.at + svc.duration + svc.after)
           END AS span
    FROM shifts sh
    CROSS JOIN p
    CROSS JOIN svc
    WHERE NOT isempty(sh.span)
    GROUP BY p.at, svc.before, svc.after, svc.duration
),
closed AS MATERIALIZED (
    SELECT COALESCE(range_agg(tstzrange(c.starts_at, c.ends_at)), '{}') AS busy
    FROM closures c
    CROSS JOIN win
    WHERE tstzrange(c.starts_at, c.ends_at) && win.span
),
free AS MATERIALIZED (
    -- Per staff member, what is left of the window once closures, their time off and the
    -- blocked ranges of their blocking bookings are taken out. Blocking: pending or
    -- confirmed, except a pending booking whose payment hold has expired. Computed once per
    -- member who works then, each lookup an index scan on (staff_id, range).
    SELECT m.id AS staff_id,
           tstzmultirange(win.span) - closed.busy - COALESCE(taken.busy, '{}') AS clear
    FROM (
        -- Members with working time in the window (with :at, at that instant).
        SELECT DISTINCT w.staff_id AS id
        FROM work w
        CROSS JOIN p
        WHERE p.at IS NULL OR w.hours @> p.at
    ) m
    CROSS JOIN win
    CROSS JOIN closed
    CROSS JOIN p
    CROSS JOIN LATERAL (
        SELECT range_agg(x.r) AS busy
        FROM (
            -- Through the B-tree (staff_id, starts_at): a booking blocks at most 4 hours
            -- before its start and 16 hours after (ck_bookings_reach), so only those starting
            -- in this stretch can touch the window. The overlap is then tested on the bounds:
            -- written as `&&`, it would lead the planner to the GiST exclusion index, whose
            -- scan costs about three times as much per staff member.
            SELECT b.blocked AS r
            FROM bookings b
            WHERE b.staff_id = m.id
              AND b.starts_at > lower(win.span) - interval '16 hours'
              AND b.starts_at < upper(win.span) + interval '4 hours'
              AND lower(b.blocked) < upper(win.span)
              AND upper(b.blocked) > lower(win.span)
              AND b.status IN ('pending', 'confirmed')
              AND (b.status = 'confirmed' OR b.payment_due_at IS NULL OR b.payment_due_at > p.now)
              AND b.id IS DISTINCT FROM p.exclude_id
            UNION ALL
            SELECT tstzrange(t.starts_at, t.ends_at)
            FROM time_off t
            WHERE t.staff_id = m.id AND tstzrange(t.starts_at, t.ends_at) && win.span
        ) x
    ) taken
),
plan AS MATERIALIZED (
    -- One row per staff member and date with all a candidate start is checked against, so
    -- the per-candidate work below joins nothing.
    SELECT w.staff_id, st.display_name, w.hours, w.spans, f.clear,
           svc.duration, svc.before, svc.after, svc.step, svc.earliest, p.at, p.tz, w.steady
    FROM work w
    JOIN free f ON f.staff_id = w.staff_id
    JOIN staff st ON st.id = w.staff_id  -- (work holds members only)
    CROSS JOIN svc
    CROSS JOIN p
    WHERE p.at IS NULL OR w.hours @> p.at
),
fits AS (
    -- The grid, in local time: a start's wall-clock time is its shift's start plus whole
    -- multiples of the interval. On a steady date those are the shift's start plus multiples
    -- of the interval in elapsed time. Across an offset change, the starts after it lie on
    -- that grid moved by the change (`o.moved`): both grids are walked, each start checked in
    -- local time. With :at, only :at when it lies on the grid. A start fits when the service
    -- lies in the date's working time and its blocked range in the clear time.
    SELECT pl.staff_id, pl.display_name, g.at AS starts_at, g.at + pl.duration AS ends_at
    FROM plan pl
    CROSS JOIN LATERAL unnest(pl.spans) AS sh (span)
    CROSS JOIN LATERAL (
        SELECT gs AS at
        FROM generate_series(lower(sh.span), upper(sh.span), pl.step) AS gs
        WHERE pl.at IS NULL AND pl.steady AND gs < upper(sh.span)
        UNION ALL
        SELECT gs
        FROM (
            -- (`make_interval(secs => …)`: an interval without a day part, so subtracting
            -- it is exact elapsed time whatever the session's TimeZone.)
            SELECT lower(sh.span) AT TIME ZONE pl.tz AS local_start,
                   upper(sh.span) - make_interval(secs => extract(epoch FROM
                       (upper(sh.span) AT TIME ZONE pl.tz) - (lower(sh.span) AT TIME ZONE pl.tz)
                   )) AS moved
            WHERE pl.at IS NULL AND NOT pl.steady
        ) o
        CROSS JOIN LATERAL (VALUES (lower(sh.span)), (o.moved)) AS a (anchor)
        CROSS JOIN LATERAL generate_series(a.anchor, upper(sh.span), pl.step) AS gs
        WHERE gs >= lower(sh.span) AND gs < upper(sh.span)
          AND (gs AT TIME ZONE pl.tz) >= o.local_start
          AND mod(extract(epoch FROM (gs AT TIME ZONE pl.tz) - o.local_start),
                  extract(epoch FROM pl.step)) = 0
        UNION ALL
        SELECT pl.at
        WHERE pl.at IS NOT NULL
          AND pl.at >= lower(sh.span)
          AND pl.at < upper(sh.span)
          AND CASE WHEN pl.steady
                   THEN mod(extract(epoch FROM pl.at - lower(sh.span)),
                            extract(epoch FROM pl.step)) = 0
                   ELSE (pl.at AT TIME ZONE pl.tz) >= (lower(sh.span) AT TIME ZONE pl.tz)
                        AND mod(extract(epoch FROM (pl.at AT TIME ZONE pl.tz)
                                                   - (lower(sh.span) AT TIME ZONE pl.tz)),
                                extract(epoch FROM pl.step)) = 0
              END
    ) g
    WHERE g.at >= pl.earliest
      AND pl.hours @> tstzrange(g.at, g.at + pl.duration)
      AND pl.clear @> tstzrange(g.at - pl.before, g.at + pl.duration + pl.after)
    -- One row per member and start, even where a DST reading makes two shifts overlap.
    GROUP BY pl.staff_id, pl.display_name, g.at, pl.duration
),
slots AS (
    SELECT f.starts_at, f.ends_at,
           array_agg(f.staff_id ORDER BY
               CASE WHEN p.at IS NULL OR cardinality(p.staff_ids) = 1 THEN 0 ELSE (
                   -- "Any staff" assignment: fewest blocking bookings that local day first
                   -- (nothing to rank when the request named the staff member).
                   SELECT count(*)
                   FROM bookings b
                   WHERE b.staff_id = f.staff_id
                     AND b.starts_at >= ((p.at AT TIME ZONE p.tz)::date - 1)::timestamp AT TIME ZONE p.tz
                     AND b.starts_at < ((p.at AT TIME ZONE p.tz)::date + 2)::timestamp AT TIME ZONE p.tz
                     AND (b.starts_at AT TIME ZONE p.tz)::date = (p.at AT TIME ZONE p.tz)::date
                     AND b.status IN ('pending', 'confirmed')
                     AND (b.status = 'confirmed' OR b.payment_due_at IS NULL OR b.payment_due_at > p.now)
                     AND b.id IS DISTINCT FROM p.exclude_id
               ) END,
               f.display_name, f.staff_id) AS staff_ids
    FROM fits f
    CROSS JOIN p
    GROUP BY f.starts_at, f.ends_at
)
SELECT EXISTS (SELECT 1 FROM svc) AS service_found,
       EXISTS (SELECT 1 FROM members) AS staff_found,
       slots.starts_at,
       slots.ends_at,
       slots.staff_ids
FROM (VALUES (1)) AS head (one)
LEFT JOIN slots ON true
ORDER BY slots.starts_at
