use super::*;

use std::sync::LazyLock;
use std::time::Duration;

use haystack_wire::connection::Cancelled;
use haystack_wire::filter::FilterError;
use haystack_wire::Op;
use libhaystack::units::get_unit;
use libhaystack::val::Number;

use super::watch::{new_watch_id, Owner};

/// The connection the helpers below ask from.
const ALICE: u64 = 1;
/// Another connection.
const BOB: u64 = 2;

/// The time the tests count from: a fixed instant, moved forward by hand, never slept to.
fn start() -> Instant {
    static START: LazyLock<Instant> = LazyLock::new(Instant::now);
    *START
}

/// `secs` seconds after [`start`].
fn at(secs: f64) -> Instant {
    start() + Duration::from_secs_f64(secs)
}

fn date(year: i32, month: u32, day: u32) -> Date {
    Date::from_ymd(year, month, day).unwrap()
}

fn row(pairs: &[(&str, Value)]) -> Dict {
    let mut dict = Dict::new();
    for (tag, value) in pairs {
        dict.insert(tag.to_string(), value.clone());
    }
    dict
}

fn request(meta: &[(&str, Value)], rows: Vec<Dict>) -> Grid {
    Grid::make_from_dicts_with_meta(rows, row(meta))
}

fn filter_request(filter: &str, limit: Option<f64>) -> Grid {
    let mut first = row(&[("filter", Value::from(filter))]);
    if let Some(limit) = limit {
        first.insert("limit".to_string(), Value::make_number(limit));
    }
    request(&[], vec![first])
}

fn id_rows(ids: &[&str]) -> Vec<Dict> {
    ids.iter().map(|id| row(&[("id", Value::make_ref(id))])).collect()
}

fn his_request(id: &str, range: &str) -> Grid {
    request(
        &[],
        vec![row(&[("id", Value::make_ref(id)), ("range", Value::from(range))])],
    )
}

fn read(site: &Site, filter: &str) -> Grid {
    site.read(&filter_request(filter, None), &Cancellation::never())
        .unwrap()
}

/// The ids of a grid's rows; an all-empty row gives "".
fn ids(grid: &Grid) -> Vec<String> {
    grid.rows
        .iter()
        .map(|row| {
            row.get_ref("id")
                .map(|id| id.value().to_string())
                .unwrap_or_default()
        })
        .collect()
}

fn meta_str(grid: &Grid, tag: &str) -> String {
    grid.meta
        .as_ref()
        .and_then(|meta| meta.get_str(tag))
        .map(|text| text.value().to_string())
        .unwrap()
}

fn column_names(grid: &Grid) -> Vec<&str> {
    grid.columns.iter().map(|column| column.name.as_str()).collect()
}

fn timestamps(grid: &Grid) -> Vec<i64> {
    grid.rows
        .iter()
        .map(|row| row.get_date_time("ts").unwrap().timestamp())
        .collect()
}

fn values(grid: &Grid) -> Vec<f64> {
    grid.rows
        .iter()
        .map(|row| row.get_num("val").unwrap().value)
        .collect()
}

fn cur_val(site: &Site, id: &str) -> f64 {
    let grid = site
        .read(&request(&[], id_rows(&[id])), &Cancellation::never())
        .unwrap();
    grid.rows[0].get_num("curVal").unwrap().value
}

/// Opens a watch from [`ALICE`] at [`start`].
fn sub(site: &Site, dis: &str, ids: &[&str]) -> Grid {
    site.watch_sub(
        &request(&[("watchDis", Value::from(dis))], id_rows(ids)),
        &caller(ALICE, start()),
    )
    .unwrap()
}

/// Connection `connection`, anonymous and of no known address, asking at `now`.
fn caller(connection: u64, now: Instant) -> Caller {
    caller_as(connection, None, None, now)
}

/// Connection `connection`, logged in as `user` (if any) from `address` (if any), asking
/// at `now`.
fn caller_as(connection: u64, user: Option<&str>, address: Option<&str>, now: Instant) -> Caller {
    Caller {
        owner: Owner {
            connection,
            user: user.map(Arc::from),
            address: address.map(|address| address.parse().unwrap()),
        },
        now,
        today: date(2026, 10, 15),
        cancellation: Cancellation::never(),
        peer: None,
    }
}

/// Opens an empty watch from `connection` at `now` with a lease of `lease` seconds, and
/// returns its id.
fn open(site: &Site, connection: u64, now: Instant, lease: f64) -> Result<String, SiteError> {
    open_by(site, &caller(connection, now), lease)
}

/// Opens an empty watch for `caller` with a lease of `lease` seconds, and returns its id.
fn open_by(site: &Site, caller: &Caller, lease: f64) -> Result<String, SiteError> {
    let meta = [
        ("watchDis", Value::from("leased")),
        ("lease", Value::make_number(lease)),
    ];
    let opened = site.watch_sub(&request(&meta, Vec::new()), caller)?;
    Ok(meta_str(&opened, "watchId"))
}

fn poll(site: &Site, watch: &str, refresh: bool) -> Result<Grid, SiteError> {
    poll_at(site, watch, refresh, start())
}

fn poll_at(site: &Site, watch: &str, refresh: bool, now: Instant) -> Result<Grid, SiteError> {
    poll_by(site, watch, refresh, &caller(ALICE, now))
}

fn poll_by(site: &Site, watch: &str, refresh: bool, caller: &Caller) -> Result<Grid, SiteError> {
    let mut meta = vec![("watchId", Value::from(watch))];
    if refresh {
        meta.push(("refresh", Value::make_marker()));
    }
    site.watch_poll(&request(&meta, Vec::new()), caller)
}

/// The error a watch id nobody may use gets.
fn unknown(id: &str) -> Result<(), SiteError> {
    Err(SiteError::UnknownWatch { id: id.to_string() })
}

fn close_request(watch: &str) -> Grid {
    request(
        &[("watchId", Value::from(watch)), ("close", Value::make_marker())],
        Vec::new(),
    )
}

fn close(site: &Site, watch: &str) -> Result<Grid, SiteError> {
    site.watch_unsub(&close_request(watch), &caller(ALICE, start()))
}

impl Site {
    fn record_count(&self) -> usize {
        self.refs.len()
    }

    fn watch_count(&self) -> usize {
        self.state().watches.count()
    }
}

/// 2026-10-01 is day 20,727 after 1970-01-01 (20,454 to 2026-01-01, plus 273).
const OCT_1_2026: i64 = 20_727;

#[test]
fn the_sample_has_ten_sites_a_hundred_equips_and_three_thousand_points() {
    let site = Site::sample();
    assert_eq!(site.record_count(), 3_110);
    assert_eq!(read(&site, "site").len(), 10);
    assert_eq!(read(&site, "equip").len(), 100);
    assert_eq!(read(&site, "ahu").len(), 20);
    assert_eq!(read(&site, "vav").len(), 80);
    assert_eq!(read(&site, "point").len(), 3_000);
    assert_eq!(
        read(&site, "point and his and kind==\"Number\" and curVal").len(),
        3_000
    );
    // Every point is exactly one of sensor, cmd and sp.
    let roles: usize = ["sensor", "cmd", "sp"]
        .iter()
        .map(|role| read(&site, &format!("point and {role}")).len())
        .sum();
    assert_eq!(roles, 3_000);
}

#[test]
fn the_site_is_built_the_same_every_time() {
    let (one, two) = (Site::sample(), Site::sample());
    assert_eq!(read(&one, "point").rows, read(&two, "point").rows);
    let range = his_request("p-4-9-27", "2026-03-14");
    assert_eq!(
        one.his_read(&range, date(2026, 3, 20)).unwrap().rows,
        two.his_read(&range, date(2026, 3, 20)).unwrap().rows
    );
}

#[test]
fn sites_carry_area_and_city_and_points_their_refs_and_units() {
    let site = Site::sample();
    let first = read(&site, "site and geoCity==\"Denver\"");
    assert_eq!(ids(&first), ["s-1"]);
    let area = first.rows[0].get_num("area").unwrap();
    assert_eq!(area.value, 182_000.0);
    assert_eq!(
        area.unit.map(|unit| unit.symbol()),
        get_unit("ft²").map(|unit| unit.symbol())
    );

    let point = site
        .read(&request(&[], id_rows(&["p-3-7-12"])), &Cancellation::never())
        .unwrap();
    let record = &point.rows[0];
    assert_eq!(record.get_ref("equipRef").unwrap().value(), "e-3-7");
    assert_eq!(record.get_ref("siteRef").unwrap().value(), "s-3");
    assert!(record.has_marker("point") && record.has_marker("his"));
    assert_eq!(record.get_str("kind").unwrap().value(), "Number");
    let unit = record.get_str("unit").unwrap().value();
    // The value carries the unit exactly when libhaystack's unit database is compiled in.
    let cur = record.get_num("curVal").unwrap();
    assert_eq!(
        cur.unit.map(|unit| unit.symbol().to_string()),
        get_unit(unit).map(|unit| unit.symbol().to_string())
    );
}

#[test]
fn every_unit_used_is_in_the_unit_database_when_it_is_compiled_in() {
    let site = Site::sample();
    let mut units: Vec<String> = read(&site, "point")
        .rows
        .iter()
        .map(|row| row.get_str("unit").unwrap().value().to_string())
        .collect();
    units.sort();
    units.dedup();
    assert_eq!(units, ["%", "cfm", "inH₂O", "kW", "ppm", "°F"]);
    let database_present = get_unit("°F").is_some();
    for unit in units.iter().map(String::as_str).chain(["ft²", "s"]) {
        assert_eq!(get_unit(unit).is_some(), database_present, "{unit}");
    }
}

#[test]
fn read_by_filter_matches_the_expected_records() {
    let site = Site::sample();
    // Five of each equip kind's fifteen point kinds are temperatures, each twice per equip.
    let temps = read(&site, "point and temp");
    assert_eq!(temps.len(), 100 * 10);
    assert!(temps
        .rows
        .iter()
        .all(|row| row.has_marker("point") && row.has_marker("temp")));

    let under_one = read(&site, "siteRef==@s-1");
    assert_eq!(under_one.len(), 10 + 300);
    assert!(under_one
        .rows
        .iter()
        .all(|row| row.get_ref("siteRef").unwrap().value() == "s-1"));

    // Paths follow refs through the site's records.
    let austin_ahu = read(&site, "point and equipRef->ahu and siteRef->geoCity==\"Austin\"");
    assert_eq!(austin_ahu.len(), 60);
    assert!(ids(&austin_ahu)
        .iter()
        .all(|id| id.starts_with("p-2-1-") || id.starts_with("p-2-2-")));
    assert_eq!(read(&site, "vav and airRef->navName==\"AHU-2\"").len(), 40);
}

#[test]
fn read_by_filter_honours_limit_in_record_order() {
    let site = Site::sample();
    let limited = site
        .read(
            &filter_request("point and siteRef==@s-1", Some(25.0)),
            &Cancellation::never(),
        )
        .unwrap();
    assert_eq!(limited.len(), 25);
    assert_eq!(ids(&limited)[0], "p-1-1-1");
    assert_eq!(ids(&limited)[24], "p-1-1-25");
    assert_eq!(
        site.read(&filter_request("point", Some(0.0)), &Cancellation::never())
            .unwrap()
            .len(),
        0
    );
    for bad in [-1.0, 2.5, f64::NAN] {
        assert!(matches!(
            site.read(&filter_request("point", Some(bad)), &Cancellation::never()),
            Err(SiteError::BadLimit { .. })
        ));
    }
}

#[test]
fn read_columns_are_the_union_of_tags_id_and_dis_first() {
    let site = Site::sample();
    let grid = site
        .read(&request(&[], id_rows(&["s-1", "e-1-3"])), &Cancellation::never())
        .unwrap();
    let names = column_names(&grid);
    assert_eq!(&names[..2], ["id", "dis"]);
    let rest = &names[2..];
    assert!(rest.windows(2).all(|pair| pair[0] < pair[1]), "{rest:?}");
    for tag in ["site", "area", "geoCity", "equip", "vav", "siteRef", "airRef"] {
        assert!(names.contains(&tag), "{tag}");
    }
    // Nothing matched: one `empty` column.
    assert_eq!(column_names(&read(&site, "nosuchtag")), ["empty"]);
}

#[test]
fn read_by_ids_answers_one_row_per_id_and_empty_rows_for_unknown_ids() {
    let site = Site::sample();
    let mut rows = id_rows(&["p-3-7-12", "nope"]);
    // A string id, with its @, is accepted too.
    rows.push(row(&[("id", Value::from("@s-2"))]));
    let grid = site.read(&request(&[], rows), &Cancellation::never()).unwrap();
    assert_eq!(ids(&grid), ["p-3-7-12", "", "s-2"]);
    assert!(grid.rows[1].is_empty());
    assert_eq!(
        grid.rows[0].get_str("dis").unwrap().value(),
        "Chicago Office VAV-05 Fan Power 1"
    );
}

#[test]
fn bad_reads_give_typed_errors() {
    let site = Site::sample();
    match site.read(&filter_request("point and (temp", None), &Cancellation::never()) {
        Err(SiteError::BadFilter { filter, message }) => {
            assert_eq!(filter, "point and (temp");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        site.read(
            &request(&[], vec![row(&[("other", Value::make_marker())])]),
            &Cancellation::never()
        ),
        Err(SiteError::MissingColumn {
            op: "read",
            column: "filter or id"
        })
    );
    let numeric = request(&[], vec![row(&[("filter", Value::make_number(3.0))])]);
    assert!(matches!(
        site.read(&numeric, &Cancellation::never()),
        Err(SiteError::WrongKind { tag: "filter", .. })
    ));
    let error = site
        .read(&filter_request("point and (temp", None), &Cancellation::never())
        .unwrap_err();
    assert!(
        error.to_string().starts_with("bad filter `point and (temp`: "),
        "{error}"
    );
}

#[test]
fn his_read_today_yesterday_and_one_date_give_288_samples_from_midnight() {
    let site = Site::sample();
    let today = date(2026, 10, 15);
    let grid = site.his_read(&his_request("p-1-1-1", "today"), today).unwrap();
    assert_eq!(grid.len(), 288);
    assert_eq!(column_names(&grid), ["ts", "val"]);
    let midnight = (OCT_1_2026 + 14) * 86_400;
    assert_eq!(timestamps(&grid)[0], midnight);
    let meta = grid.meta.as_ref().unwrap();
    assert_eq!(meta.get_ref("id").unwrap().value(), "p-1-1-1");
    assert_eq!(meta.get_date_time("hisStart").unwrap().timestamp(), midnight);
    assert_eq!(
        meta.get_date_time("hisEnd").unwrap().timestamp(),
        midnight + 86_400
    );
    assert!(grid
        .rows
        .iter()
        .all(|row| row.get_date_time("ts").unwrap().is_utc()));

    let yesterday = site
        .his_read(&his_request("p-1-1-1", "yesterday"), today)
        .unwrap();
    assert_eq!(yesterday.len(), 288);
    assert_eq!(timestamps(&yesterday)[0], midnight - 86_400);

    let one = site
        .his_read(&his_request("p-1-1-1", "2026-10-14"), today)
        .unwrap();
    assert_eq!(one.rows, yesterday.rows);
}

#[test]
fn his_read_of_a_month_steps_five_minutes_with_nan_every_997th_sample() {
    let site = Site::sample();
    let grid = site
        .his_read(
            &his_request("p-5-4-1", "2026-10-01,2026-10-31"),
            date(2026, 11, 2),
        )
        .unwrap();
    assert_eq!(grid.len(), 8_928);
    let ts = timestamps(&grid);
    assert_eq!(ts[0], OCT_1_2026 * 86_400);
    assert!(ts.windows(2).all(|pair| pair[1] - pair[0] == 300));
    assert_eq!(
        grid.meta
            .as_ref()
            .unwrap()
            .get_date_time("hisEnd")
            .unwrap()
            .timestamp(),
        (OCT_1_2026 + 31) * 86_400
    );

    let first_sample = OCT_1_2026 * 288;
    let nan_at: Vec<usize> = values(&grid)
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_nan())
        .map(|(i, _)| i)
        .collect();
    let expected: Vec<usize> = (0..8_928)
        .filter(|i| (first_sample + *i as i64) % 997 == 0)
        .collect();
    assert_eq!(nan_at, expected);
    assert_eq!(nan_at.len(), 9);
    // Everything else is a real reading within the point's bounds.
    assert!(values(&grid)
        .iter()
        .filter(|v| !v.is_nan())
        .all(|v| (40.0..=100.0).contains(v)));
}

#[test]
fn a_month_of_history_encodes_to_more_than_256_kib_of_json() {
    let site = Site::sample();
    let grid = site
        .his_read(
            &his_request("p-2-3-6", "2026-10-01,2026-10-31"),
            date(2026, 11, 2),
        )
        .unwrap();
    let json = serde_json::to_vec(&grid).unwrap();
    assert!(json.len() > 262_144, "{} bytes", json.len());
}

#[test]
fn read_answers_decode_with_libhaystack() {
    let site = Site::sample();
    let grid = read(&site, "siteRef==@s-2");
    let json = serde_json::to_vec(&grid).unwrap();
    let decoded: Grid = serde_json::from_slice(&json).unwrap();
    assert_eq!(decoded.rows, grid.rows);
}

#[test]
fn long_reversed_and_malformed_ranges_are_refused() {
    let site = Site::sample();
    let today = date(2026, 10, 15);
    assert_eq!(
        site.his_read(&his_request("p-1-1-1", "2025-01-01,2026-01-02"), today),
        Err(SiteError::RangeTooLong {
            range: "2025-01-01,2026-01-02".into(),
            days: 367,
            max: 366
        })
    );
    assert_eq!(
        site.his_read(&his_request("p-1-1-1", "2026-10-02,2026-10-01"), today),
        Err(SiteError::ReversedRange {
            range: "2026-10-02,2026-10-01".into()
        })
    );
    // A whole leap year is the longest range served.
    assert_eq!(
        his::parse_range("2024-01-01,2024-12-31", today).unwrap().days(),
        366
    );
    assert_eq!(
        his::parse_range(" 2026-10-01 , 2026-10-03 ", today)
            .unwrap()
            .days(),
        3
    );
    for bad in [
        "",
        "tomorrow",
        "2026-1-01",
        "2026-02-30",
        "2026-10-01,",
        "+2026-10-01",
        "2026-10-01,2026-10-02,2026-10-03",
    ] {
        assert!(
            matches!(
                site.his_read(&his_request("p-1-1-1", bad), today),
                Err(SiteError::BadRange { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn his_read_of_anything_but_a_point_is_refused() {
    let site = Site::sample();
    let today = date(2026, 10, 15);
    for id in ["p-11-1-1", "e-1-1", "s-1"] {
        assert_eq!(
            site.his_read(&his_request(id, "today"), today),
            Err(SiteError::UnknownPoint { id: id.into() })
        );
    }
    let no_range = request(&[], id_rows(&["p-1-1-1"]));
    assert_eq!(
        site.his_read(&no_range, today),
        Err(SiteError::MissingColumn {
            op: "hisRead",
            column: "range"
        })
    );
    assert_eq!(
        site.his_read(&Grid::make_empty(), today),
        Err(SiteError::EmptyRequest { op: "hisRead" })
    );
}

#[test]
fn watch_sub_poll_refresh_unsub_and_close() {
    let site = Site::sample();
    let watched = ["p-1-1-1", "p-1-1-2", "p-1-3-1"];
    let opened = sub(&site, "test", &[watched[0], watched[1], "nope", watched[2]]);
    let watch = meta_str(&opened, "watchId");
    assert!(watch.starts_with("w-") && watch.len() == 34, "{watch}");
    assert_eq!(
        opened.meta.as_ref().unwrap().get_num("lease").unwrap().value,
        60.0
    );
    assert_eq!(meta_str(&opened, "watchDis"), "test");
    assert_eq!(ids(&opened), [watched[0], watched[1], "", watched[2]]);

    // Nothing changed yet.
    assert!(poll(&site, &watch, false).unwrap().is_empty());

    // Ticks until some value moves; each poll then returns exactly what changed.
    let mut changed = BTreeSet::new();
    for _ in 0..20 {
        for (id, grid) in site.tick(start()).changes {
            assert_eq!(id, watch);
            assert_eq!(meta_str(&grid, "watchId"), watch);
            changed.extend(ids(&grid));
        }
        if !changed.is_empty() {
            break;
        }
    }
    assert!(!changed.is_empty());
    let polled = poll(&site, &watch, false).unwrap();
    assert_eq!(meta_str(&polled, "watchId"), watch);
    assert_eq!(ids(&polled).into_iter().collect::<BTreeSet<_>>(), changed);
    assert!(poll(&site, &watch, false).unwrap().is_empty());

    let refreshed = poll(&site, &watch, true).unwrap();
    assert_eq!(ids(&refreshed), [watched[0], watched[1], watched[2]]);

    let unsub = request(
        &[("watchId", Value::from(watch.as_str()))],
        id_rows(&[watched[1]]),
    );
    site.watch_unsub(&unsub, &caller(ALICE, start())).unwrap();
    assert_eq!(ids(&poll(&site, &watch, true).unwrap()), [watched[0], watched[2]]);

    // Adding to the open watch.
    let more = site
        .watch_sub(
            &request(&[("watchId", Value::from(watch.as_str()))], id_rows(&["s-1"])),
            &caller(ALICE, start()),
        )
        .unwrap();
    assert_eq!(meta_str(&more, "watchId"), watch);
    assert_eq!(meta_str(&more, "watchDis"), "test");
    assert_eq!(
        ids(&poll(&site, &watch, true).unwrap()),
        ["s-1", watched[0], watched[2]]
    );

    close(&site, &watch).unwrap();
    assert_eq!(poll(&site, &watch, false).map(|_| ()), unknown(&watch));
    assert_eq!(close(&site, &watch).map(|_| ()), unknown(&watch));
    assert_eq!(site.watch_count(), 0);
    assert_eq!(site.state().watches.watched_count(), 0);
}

#[test]
fn tick_moves_only_watched_points_and_reports_only_open_watches() {
    let site = Site::sample();
    let quiet = site.tick(start());
    assert!(quiet.changes.is_empty() && quiet.expired.is_empty());
    let kept = meta_str(&sub(&site, "kept", &["p-2-2-2"]), "watchId");
    let closed = meta_str(&sub(&site, "closed", &["p-2-2-3"]), "watchId");
    assert_ne!(kept, closed);
    close(&site, &closed).unwrap();
    assert!(close(&site, &closed).is_err());

    let before = (cur_val(&site, "p-2-2-2"), cur_val(&site, "p-2-2-3"));
    let mut pushed = 0;
    for _ in 0..20 {
        for (id, grid) in site.tick(start()).changes {
            assert_eq!(id, kept);
            assert_eq!(ids(&grid), ["p-2-2-2"]);
            pushed += 1;
        }
    }
    assert!(pushed > 5, "{pushed}");
    assert_ne!(cur_val(&site, "p-2-2-2"), before.0);
    assert_eq!(cur_val(&site, "p-2-2-3"), before.1);
}

#[test]
fn a_snapshot_taken_before_a_tick_keeps_the_values_it_had() {
    let site = Site::sample();
    sub(&site, "moving", &["p-2-2-2"]);
    let position = site.index["p-2-2-2"];
    let before = site.snapshot();
    let value = before[position].get_num("curVal").unwrap().value;
    for _ in 0..20 {
        site.tick(start());
    }
    assert_ne!(cur_val(&site, "p-2-2-2"), value, "the point moved");
    assert_eq!(before[position].get_num("curVal").unwrap().value, value);
    // Records that did not change are shared, not copied.
    let after = site.snapshot();
    assert!(Arc::ptr_eq(&before[0], &after[0]));
}

#[test]
fn the_version_stays_while_no_record_changes_and_grows_with_each_tick_that_changes_one() {
    let site = Site::sample();
    let first = site.version();
    for _ in 0..5 {
        assert!(site.tick(start()).changes.is_empty());
    }
    assert_eq!(site.version(), first, "nothing is watched, nothing moves");
    sub(&site, "moving", &["p-2-2-2"]);
    let mut last = site.version();
    for _ in 0..20 {
        let changed = !site.tick(start()).changes.is_empty();
        let now = site.version();
        assert_eq!(
            now > last,
            changed,
            "the version grows exactly when a tick changes a record"
        );
        last = now;
    }
    assert!(last > first);
}

#[test]
fn unknown_watches_and_bad_watch_requests_are_refused() {
    let site = Site::sample();
    let real = meta_str(&sub(&site, "one", &["p-1-1-1"]), "watchId");
    let made_up = new_watch_id().unwrap();
    let long = format!("w-{}", "0".repeat(100));
    for id in ["w-1", "w-01", &made_up, &real.to_uppercase(), "1", ""] {
        assert_eq!(poll(&site, id, false).map(|_| ()), unknown(id), "{id:?}");
    }
    // An id is quoted only so far.
    assert_eq!(
        poll(&site, &long, false).map(|_| ()),
        unknown(&format!("{}…", &long[..64]))
    );
    let add = request(
        &[("watchId", Value::from(made_up.as_str()))],
        id_rows(&["p-1-1-1"]),
    );
    assert_eq!(
        site.watch_sub(&add, &caller(ALICE, start())).map(|_| ()),
        unknown(&made_up)
    );
    assert!(matches!(
        site.watch_sub(&request(&[], id_rows(&["p-1-1-1"])), &caller(ALICE, start())),
        Err(SiteError::MissingMeta { .. })
    ));
    assert!(matches!(
        site.watch_poll(&Grid::make_empty(), &caller(ALICE, start())),
        Err(SiteError::MissingMeta { .. })
    ));
    let bad_id = request(
        &[("watchDis", Value::from("x"))],
        vec![row(&[("id", Value::make_number(1.0))])],
    );
    assert!(matches!(
        site.watch_sub(&bad_id, &caller(ALICE, start())),
        Err(SiteError::WrongKind { tag: "id", .. })
    ));
    // A refused request opens nothing.
    assert_eq!(site.watch_count(), 1);
}

#[test]
fn a_watch_answers_only_the_connection_that_opened_it() {
    let site = Site::sample();
    let watch = meta_str(&sub(&site, "alice's", &["p-1-1-1", "p-1-1-2"]), "watchId");
    let made_up = new_watch_id().unwrap();
    let bob = caller(BOB, start());
    fn id_meta<'a>(id: &'a str, more: &[(&'a str, Value)]) -> Vec<(&'a str, Value)> {
        let mut meta = vec![("watchId", Value::from(id))];
        meta.extend(more.iter().cloned());
        meta
    }
    // Whatever Bob does with Alice's id, he gets what a made-up id gets, word for word.
    for id in [watch.as_str(), made_up.as_str()] {
        assert_eq!(poll_by(&site, id, false, &bob).map(|_| ()), unknown(id));
        assert_eq!(poll_by(&site, id, true, &bob).map(|_| ()), unknown(id));
        let add = request(&id_meta(id, &[]), id_rows(&["p-1-1-3"]));
        assert_eq!(site.watch_sub(&add, &bob).map(|_| ()), unknown(id));
        let stretch = request(
            &id_meta(id, &[("lease", Value::make_number(86_400.0))]),
            Vec::new(),
        );
        assert_eq!(site.watch_sub(&stretch, &bob).map(|_| ()), unknown(id));
        let drop_one = request(&id_meta(id, &[]), id_rows(&["p-1-1-1"]));
        assert_eq!(site.watch_unsub(&drop_one, &bob).map(|_| ()), unknown(id));
        assert_eq!(
            site.watch_unsub(&close_request(id), &bob).map(|_| ()),
            unknown(id)
        );
    }
    // Alice's watch is as she left it: both records, no change taken, the lease not stretched.
    assert_eq!(ids(&poll(&site, &watch, true).unwrap()), ["p-1-1-1", "p-1-1-2"]);
    assert_eq!(
        poll_at(&site, &watch, false, at(60.0)).map(|_| ()),
        unknown(&watch)
    );
}

#[test]
fn a_logged_in_user_reaches_their_watch_from_another_connection_and_nobody_else_does() {
    let site = Site::sample();
    let first = caller_as(1, Some("alice"), Some("10.0.0.1"), start());
    let watch = meta_str(
        &site
            .watch_sub(
                &request(&[("watchDis", Value::from("alice"))], id_rows(&["p-1-1-1"])),
                &first,
            )
            .unwrap(),
        "watchId",
    );
    let second = caller_as(2, Some("alice"), Some("10.0.0.2"), start());
    let add = request(&[("watchId", Value::from(watch.as_str()))], id_rows(&["p-1-1-2"]));
    site.watch_sub(&add, &second).unwrap();
    assert_eq!(
        ids(&poll_by(&site, &watch, true, &second).unwrap()),
        ["p-1-1-1", "p-1-1-2"]
    );
    for stranger in [
        caller_as(3, Some("bob"), Some("10.0.0.1"), start()),
        caller_as(4, None, Some("10.0.0.1"), start()),
    ] {
        assert_eq!(
            poll_by(&site, &watch, true, &stranger).map(|_| ()),
            unknown(&watch)
        );
        assert_eq!(
            site.watch_unsub(&close_request(&watch), &stranger).map(|_| ()),
            unknown(&watch)
        );
    }
    // The watch still ends with the connection that opened it.
    assert_eq!(site.close_watches_of(1), std::slice::from_ref(&watch));
    assert_eq!(poll_by(&site, &watch, true, &second).map(|_| ()), unknown(&watch));
}

#[test]
fn leases_are_seconds_clamped_to_the_maximum() {
    let lease = |site: &Site, value: f64| {
        site.watch_sub(
            &request(
                &[
                    ("watchDis", Value::from("l")),
                    ("lease", Value::make_number(value)),
                ],
                Vec::new(),
            ),
            &caller(ALICE, start()),
        )
    };
    let granted = |grid: Grid| grid.meta.unwrap().get_num("lease").unwrap().value;
    let site = Site::sample();
    assert_eq!(granted(lease(&site, 30.0).unwrap()), 30.0);
    assert_eq!(granted(lease(&site, 1e9).unwrap()), 3_600.0);
    assert_eq!(lease(&site, 0.0), Err(SiteError::BadLease { value: "0".into() }));
    assert!(watch::lease_secs(&Number::make(f64::NAN), 60).is_err());
    let daily = Site::sample().with_limits(SiteLimits {
        watches: WatchLimits {
            max_lease_secs: 86_400,
            ..WatchLimits::DEFAULT
        },
        ..SiteLimits::default()
    });
    assert_eq!(granted(lease(&daily, 1e9).unwrap()), 86_400.0);
}

#[test]
fn the_number_of_open_watches_is_bounded_across_connections() {
    let site = Site::sample();
    let limits = WatchLimits::DEFAULT;
    // Eight addresses of two connections of 64 watches each fill the site.
    let mut ids = Vec::new();
    for n in 0..limits.max_watches {
        let connection = 100 + (n / limits.per_connection) as u64;
        let address = format!("10.0.0.{}", n / limits.per_owner);
        ids.push(open_by(&site, &caller_as(connection, None, Some(&address), start()), 60.0).unwrap());
    }
    let newcomer = caller_as(ALICE, None, Some("10.0.1.1"), start());
    assert_eq!(
        open_by(&site, &newcomer, 60.0),
        Err(SiteError::TooManyWatches { max: 1_024 })
    );
    let owner = caller(100, start());
    site.watch_unsub(&close_request(&ids[5]), &owner).unwrap();
    assert!(open_by(&site, &newcomer, 60.0).is_ok());
}

#[test]
fn one_connection_holds_at_most_64_watches_and_others_still_open_theirs() {
    let site = Site::sample();
    let mut ids = Vec::new();
    for _ in 0..WatchLimits::DEFAULT.per_connection {
        ids.push(open(&site, ALICE, start(), 60.0).unwrap());
    }
    let refused = open(&site, ALICE, start(), 60.0);
    assert_eq!(
        refused,
        Err(SiteError::TooManyConnectionWatches { open: 64, max: 64 })
    );
    assert_eq!(
        refused.unwrap_err().to_string(),
        "this connection has 64 open watches: at most 64 per connection"
    );
    assert!(open(&site, BOB, start(), 60.0).is_ok());
    // Adding to a watch it has is not opening one.
    let add = request(
        &[("watchId", Value::from(ids[63].as_str()))],
        id_rows(&["p-1-1-1"]),
    );
    assert!(site.watch_sub(&add, &caller(ALICE, start())).is_ok());
    close(&site, &ids[0]).unwrap();
    assert!(open(&site, ALICE, start(), 60.0).is_ok());
}

#[test]
fn one_address_or_user_holds_at_most_an_eighth_of_the_watches_and_others_still_get_theirs() {
    let site = Site::sample();
    let per_owner = WatchLimits::DEFAULT.per_owner;
    // Many connections from one address: 128 watches, then refusals.
    for n in 0..per_owner {
        let connection = 100 + (n / 32) as u64;
        open_by(
            &site,
            &caller_as(connection, None, Some("192.0.2.7"), start()),
            60.0,
        )
        .unwrap();
    }
    let refused = open_by(&site, &caller_as(999, None, Some("192.0.2.7"), start()), 60.0).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "address 192.0.2.7 has 128 open watches: at most 128 each"
    );
    // Another address, and a logged-in user on the same address, still open theirs.
    assert!(open_by(&site, &caller_as(1_000, None, Some("192.0.2.8"), start()), 60.0).is_ok());
    assert!(open_by(
        &site,
        &caller_as(1_001, Some("carol"), Some("192.0.2.7"), start()),
        60.0
    )
    .is_ok());

    // IPv6 addresses count by their /64, and a user over all their connections.
    for n in 0..per_owner {
        let address = format!("2001:db8:0:1::{:x}", n + 1);
        open_by(
            &site,
            &caller_as(2_000 + n as u64, None, Some(&address), start()),
            60.0,
        )
        .unwrap();
    }
    let refused = open_by(
        &site,
        &caller_as(3_000, None, Some("2001:db8:0:1:ffff::1"), start()),
        60.0,
    );
    assert_eq!(
        refused.unwrap_err().to_string(),
        "network 2001:db8:0:1::/64 has 128 open watches: at most 128 each"
    );
    for n in 1..per_owner {
        open_by(
            &site,
            &caller_as(4_000 + (n / 32) as u64, Some("carol"), None, start()),
            60.0,
        )
        .unwrap();
    }
    assert!(matches!(
        open_by(
            &site,
            &caller_as(5_000, Some("carol"), Some("198.51.100.1"), start()),
            60.0
        ),
        Err(SiteError::TooManyOwnerWatches { .. })
    ));
}

#[test]
fn the_records_watched_are_bounded_per_watch_per_owner_and_in_all() {
    let site = Site::sample().with_limits(SiteLimits {
        watches: WatchLimits {
            max_ids: 10,
            owner_watched: 15,
            max_watched: 20,
            ..WatchLimits::DEFAULT
        },
        ..SiteLimits::default()
    });
    let points: Vec<String> = (1..=30).map(|n| format!("p-1-1-{n}")).collect();
    let points: Vec<&str> = points.iter().map(String::as_str).collect();
    let subscribe = |caller: &Caller, ids: &[&str]| {
        site.watch_sub(&request(&[("watchDis", Value::from("w"))], id_rows(ids)), caller)
    };
    let alice = caller_as(1, None, Some("10.0.0.1"), start());
    assert!(matches!(
        subscribe(&alice, &points[..11]),
        Err(SiteError::TooManyIds {
            count: 11,
            max: 10,
            ..
        })
    ));
    let first = meta_str(&subscribe(&alice, &points[..10]).unwrap(), "watchId");
    // The same records again add nothing; one more is one too many.
    let again = request(
        &[("watchId", Value::from(first.as_str()))],
        id_rows(&points[..10]),
    );
    assert!(site.watch_sub(&again, &alice).is_ok());
    let more = request(
        &[("watchId", Value::from(first.as_str()))],
        id_rows(&points[10..11]),
    );
    assert_eq!(
        site.watch_sub(&more, &alice).map(|_| ()),
        Err(SiteError::TooManyWatchIds { count: 11, max: 10 })
    );
    assert!(matches!(
        subscribe(&alice, &points[10..16]),
        Err(SiteError::TooManyOwnerRecords {
            count: 16,
            max: 15,
            ..
        })
    ));
    assert_eq!(site.watch_count(), 1, "a refused watch is not left open");
    subscribe(&alice, &points[10..15]).unwrap();
    let bob = caller_as(2, None, Some("10.0.0.2"), start());
    subscribe(&bob, &points[15..20]).unwrap();
    assert_eq!(
        subscribe(&bob, &points[20..21]).map(|_| ()),
        Err(SiteError::TooManyWatchedRecords { max: 20 })
    );
    assert_eq!(site.state().watches.watched_count(), 20);
    // Records given back make room again.
    let unsub = request(&[("watchId", Value::from(first.as_str()))], id_rows(&points[..5]));
    site.watch_unsub(&unsub, &alice).unwrap();
    subscribe(&bob, &points[20..25]).unwrap();
    assert_eq!(site.close_watches_of(2).len(), 2);
    assert_eq!(site.state().watches.watched_count(), 10);
}

#[test]
fn a_watch_dis_longer_than_the_limit_is_refused_and_opens_nothing() {
    let site = Site::sample();
    let max = WatchLimits::DEFAULT.max_dis;
    let with_dis = |dis: &str| request(&[("watchDis", Value::from(dis))], id_rows(&["p-1-1-1"]));
    assert!(site
        .watch_sub(&with_dis(&"d".repeat(max)), &caller(ALICE, start()))
        .is_ok());
    let long = "d".repeat(15 << 20);
    assert_eq!(
        site.watch_sub(&with_dis(&long), &caller(ALICE, start()))
            .map(|_| ()),
        Err(SiteError::WatchDisTooLong { len: 15 << 20, max })
    );
    assert_eq!(site.watch_count(), 1);
}

#[test]
fn polls_and_re_subscriptions_renew_a_lease_and_pushes_do_not() {
    let site = Site::sample();
    let meta = [
        ("watchDis", Value::from("renewed")),
        ("lease", Value::make_number(10.0)),
    ];
    let opened = site
        .watch_sub(
            &request(&meta, id_rows(&["p-3-1-1", "p-3-1-2"])),
            &caller(ALICE, start()),
        )
        .unwrap();
    let watch = meta_str(&opened, "watchId");

    // A poll at 8 s holds the watch to 18 s.
    poll_at(&site, &watch, false, at(8.0)).unwrap();
    assert!(site.tick(at(17.0)).expired.is_empty());
    // Naming it in a watchSub at 17 s holds it to 27 s.
    let again = request(&[("watchId", Value::from(watch.as_str()))], Vec::new());
    site.watch_sub(&again, &caller(ALICE, at(17.0))).unwrap();
    // Pushes in between do not renew it.
    let mut pushed = 0;
    for step in 0..20 {
        let tick = site.tick(at(17.5 + f64::from(step) * 0.4));
        assert!(tick.expired.is_empty(), "step {step}");
        pushed += tick.changes.len();
    }
    assert!(pushed > 0, "no change was pushed");
    assert_eq!(site.tick(at(27.0)).expired, std::slice::from_ref(&watch));
    assert_eq!(
        poll_at(&site, &watch, false, at(27.0)).map(|_| ()),
        unknown(&watch)
    );
    assert_eq!(site.watch_count(), 0);
}

#[test]
fn an_expired_watch_is_swept_once_and_the_others_stay() {
    let site = Site::sample();
    let short = open(&site, ALICE, start(), 5.0).unwrap();
    // No lease asked: the default minute.
    let default = meta_str(&sub(&site, "default", &["p-1-1-1"]), "watchId");
    let long = open(&site, BOB, start(), 3_600.0).unwrap();

    assert!(site.tick(at(4.9)).expired.is_empty());
    assert_eq!(site.tick(at(5.0)).expired, std::slice::from_ref(&short));
    assert!(site.tick(at(6.0)).expired.is_empty());
    assert_eq!(site.tick(at(60.0)).expired, [default]);
    assert_eq!(site.watch_count(), 1);
    assert!(poll_by(&site, &long, false, &caller(BOB, at(61.0))).is_ok());
    assert!(!site.has_watch(&short));
    assert!(site.has_watch(&long));
}

#[test]
fn a_watch_past_its_lease_is_unknown_even_before_it_is_swept() {
    let site = Site::sample();
    let watch = open(&site, ALICE, start(), 5.0).unwrap();
    assert!(site.has_watch(&watch));
    assert_eq!(
        poll_at(&site, &watch, false, at(5.0)).map(|_| ()),
        unknown(&watch)
    );
    let add = request(&[("watchId", Value::from(watch.as_str()))], id_rows(&["p-1-1-1"]));
    assert_eq!(
        site.watch_sub(&add, &caller(ALICE, at(5.0))).map(|_| ()),
        unknown(&watch)
    );
    // Closing it is refused as unknown too, but it goes at once.
    assert_eq!(
        site.watch_unsub(&close_request(&watch), &caller(ALICE, at(5.0)))
            .map(|_| ()),
        unknown(&watch)
    );
    assert!(!site.has_watch(&watch));
    assert!(site.tick(at(6.0)).expired.is_empty());
}

#[test]
fn a_connection_that_closes_takes_only_its_own_watches_with_it() {
    let site = Site::sample();
    let first = meta_str(&sub(&site, "a", &["p-1-1-1"]), "watchId");
    let second = open(&site, ALICE, start(), 60.0).unwrap();
    let bobs = open(&site, BOB, start(), 60.0).unwrap();

    let mut closed = site.close_watches_of(ALICE);
    closed.sort();
    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(closed, expected);
    assert_eq!(site.close_watches_of(ALICE), Vec::<String>::new());
    for gone in [&first, &second] {
        assert_eq!(poll(&site, gone, false).map(|_| ()), unknown(gone));
    }
    assert!(poll_by(&site, &bobs, false, &caller(BOB, start())).is_ok());
    assert_eq!(site.watch_count(), 1);
    // Its watches no longer count against any limit.
    for _ in 0..WatchLimits::DEFAULT.per_connection {
        open(&site, ALICE, start(), 60.0).unwrap();
    }
}

#[test]
fn requests_with_too_many_ids_are_refused() {
    let site = Site::sample();
    let max = WatchLimits::DEFAULT.max_ids;
    let many: Vec<String> = (0..=max).map(|i| format!("x-{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let grid = request(&[("watchDis", Value::from("big"))], id_rows(&many));
    assert_eq!(
        site.watch_sub(&grid, &caller(ALICE, start())),
        Err(SiteError::TooManyIds {
            op: "watchSub",
            count: 4_097,
            max: 4_096
        })
    );
    assert!(matches!(
        site.read(&request(&[], id_rows(&many)), &Cancellation::never()),
        Err(SiteError::TooManyIds { op: "read", .. })
    ));
}

#[test]
fn a_filter_past_the_limits_is_refused_before_it_is_parsed() {
    let site = Site::sample();
    let deep = format!("{}point{}", "(".repeat(3_000), ")".repeat(3_000));
    assert_eq!(
        site.read(&filter_request(&deep, None), &Cancellation::never()),
        Err(SiteError::FilterRefused(FilterError::TooDeep {
            depth: 51,
            max: 50,
            at: 50
        }))
    );
    let long = format!("{}point", "point or ".repeat(2_200));
    assert!(matches!(
        site.read(&filter_request(&long, None), &Cancellation::never()),
        Err(SiteError::FilterRefused(FilterError::TooLong { max: 10_240, .. }))
    ));
    let nested = format!("{}point{}", "(".repeat(50), ")".repeat(50));
    assert_eq!(read(&site, &nested).len(), 3_000, "50 deep is accepted");
    let strict = Site::sample().with_limits(SiteLimits {
        filter: FilterLimits {
            max_len: 100,
            max_depth: 2,
        },
        ..SiteLimits::default()
    });
    assert!(strict
        .read(&filter_request("((point))", None), &Cancellation::never())
        .is_ok());
    assert!(strict
        .read(&filter_request("(((point)))", None), &Cancellation::never())
        .is_err());
}

#[test]
fn a_read_stops_once_its_request_is_no_longer_wanted() {
    let site = Site::sample();
    let gone = Cancellation::at(Instant::now() - Duration::from_secs(1));
    assert_eq!(
        site.read(&filter_request("point", None), &gone),
        Err(SiteError::Stopped {
            op: "read",
            done: 0,
            of: 3_110,
            why: Cancelled::DeadlinePassed { after: None }
        })
    );
    assert_eq!(
        site.read(&filter_request("point", None), &gone)
            .unwrap_err()
            .to_string(),
        "read stopped after 0 of 3110 records: the request ran past its deadline"
    );
}

#[test]
fn about_ops_and_formats_describe_the_server() {
    let site = Site::sample();
    let about = site.about();
    assert_eq!(about.len(), 1);
    let row = &about.rows[0];
    assert_eq!(row.get_str("productName").unwrap().value(), "haystack-wire");
    assert_eq!(
        row.get_str("productVersion").unwrap().value(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(row.get_str("haystackVersion").unwrap().value(), "4.0");
    assert_eq!(row.get_str("tz").unwrap().value(), "UTC");
    assert!(row.get_date_time("serverTime").is_some());

    let ops = site.ops();
    assert_eq!(column_names(&ops), ["name", "summary"]);
    let names: Vec<&str> = ops
        .rows
        .iter()
        .map(|row| row.get_str("name").unwrap().value())
        .collect();
    assert_eq!(
        names,
        [
            "about",
            "ops",
            "formats",
            "read",
            "hisRead",
            "watchSub",
            "watchUnsub",
            "watchPoll"
        ]
    );

    let formats = site.formats();
    assert_eq!(
        formats.rows[0].get_str("mime").unwrap().value(),
        "application/json"
    );
    assert!(formats.rows[0].has_marker("receive") && formats.rows[0].has_marker("send"));
}

#[test]
fn handle_dispatches_by_op_and_refuses_the_rest() {
    let site = Site::sample();
    let caller = caller(ALICE, start());
    for op in Op::ALL {
        let answer = site.handle(op, &Grid::make_empty(), &caller);
        if Site::OPS.contains(&op) {
            // Answered, or refused for what the empty request lacks, never as unsupported.
            assert!(!matches!(answer, Err(SiteError::UnsupportedOp { .. })), "{op:?}");
        } else {
            assert_eq!(answer, Err(SiteError::UnsupportedOp { op: op.name() }));
        }
    }
    assert_eq!(
        site.handle(Op::Read, &filter_request("site", None), &caller)
            .unwrap()
            .len(),
        10
    );
}
