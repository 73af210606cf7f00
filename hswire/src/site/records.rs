//! The records of the sample site and the value model behind every simulated point (of the
//! sample site, and the numeric points of a site file).
//!
//! Everything here is a pure function of indices: the same build always yields the same
//! records and the same series, so tests and clients can rely on exact values.

use std::f64::consts::TAU;

use libhaystack::units::get_unit;
use libhaystack::val::{Dict, Ref, Value};

/// Sites in the sample.
pub const SITES: usize = 10;
/// Equips under each site.
pub const EQUIPS_PER_SITE: usize = 10;
/// Points under each equip.
pub const POINTS_PER_EQUIP: usize = 30;
/// Equips per site that are air handlers; the rest are VAV boxes fed by them.
const AHUS_PER_SITE: usize = 2;

/// The time zone every record and every timestamp uses.
pub const TZ: &str = "UTC";

/// A well-mixed 64-bit hash (the splitmix64 finaliser): cheap, stateless, and good enough
/// to make neighbouring indices look unrelated.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in `[-1, 1)` drawn from `x`.
fn signed_unit(x: u64) -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    let fraction = (mix(x) >> 11) as f64 / (1u64 << 53) as f64;
    fraction * 2.0 - 1.0
}

/// A number tagged with `unit` when libhaystack's unit database knows it.
///
/// libhaystack only resolves units when its `units-db` feature is compiled in; without it
/// `get_unit` finds nothing, and a unit the decoder cannot resolve would make the whole grid
/// undecodable on the client. So the number goes out plain in that build; the point record
/// still names its unit in its `unit` tag.
pub fn number(value: f64, unit: &str) -> Value {
    match get_unit(unit) {
        Some(unit) => Value::make_number_unit(value, unit),
        None => Value::make_number(value),
    }
}

/// Whether a point reads a sensor, commands an actuator or holds a setpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Sensor,
    Cmd,
    Sp,
}

impl Role {
    fn marker(self) -> &'static str {
        match self {
            Role::Sensor => "sensor",
            Role::Cmd => "cmd",
            Role::Sp => "sp",
        }
    }
}

/// One kind of point an equip carries, and the shape of its values.
struct Template {
    name: &'static str,
    markers: &'static [&'static str],
    role: Role,
    unit: &'static str,
    /// Daily mean.
    base: f64,
    /// Half the daily swing.
    swing: f64,
    /// Half the sample-to-sample jitter.
    jitter: f64,
    /// Physical bounds the value is clamped to.
    min: f64,
    max: f64,
}

const fn t(
    name: &'static str,
    markers: &'static [&'static str],
    role: Role,
    unit: &'static str,
    shape: [f64; 5],
) -> Template {
    Template {
        name,
        markers,
        role,
        unit,
        base: shape[0],
        swing: shape[1],
        jitter: shape[2],
        min: shape[3],
        max: shape[4],
    }
}

// One row per point kind, aligned as a table; shapes are [base, swing, jitter, min, max].
#[rustfmt::skip]
const AHU_POINTS: [Template; 15] = [
    t("Discharge Air Temp",     &["discharge", "air", "temp"],        Role::Sensor, "°F",    [55.0, 3.0, 0.4, 40.0, 90.0]),
    t("Discharge Air Temp Sp",  &["discharge", "air", "temp"],        Role::Sp,     "°F",    [55.0, 1.0, 0.0, 50.0, 65.0]),
    t("Return Air Temp",        &["return", "air", "temp"],           Role::Sensor, "°F",    [72.0, 2.0, 0.3, 55.0, 90.0]),
    t("Mixed Air Temp",         &["mixed", "air", "temp"],            Role::Sensor, "°F",    [62.0, 5.0, 0.5, 30.0, 90.0]),
    t("Outside Air Temp",       &["outside", "air", "temp"],          Role::Sensor, "°F",    [58.0, 12.0, 0.6, -20.0, 115.0]),
    t("Return Air Humidity",    &["return", "air", "humidity"],       Role::Sensor, "%",     [45.0, 8.0, 1.0, 0.0, 100.0]),
    t("Outside Air Humidity",   &["outside", "air", "humidity"],      Role::Sensor, "%",     [60.0, 20.0, 2.0, 0.0, 100.0]),
    t("Supply Fan Power",       &["discharge", "fan", "elec", "power"], Role::Sensor, "kW",  [12.0, 4.0, 0.5, 0.0, 40.0]),
    t("Supply Fan Speed Cmd",   &["discharge", "fan", "speed"],       Role::Cmd,    "%",     [65.0, 20.0, 2.0, 0.0, 100.0]),
    t("Outside Air Damper Cmd", &["outside", "air", "damper"],        Role::Cmd,    "%",     [30.0, 20.0, 2.0, 0.0, 100.0]),
    t("Cooling Valve Cmd",      &["cooling", "valve"],                Role::Cmd,    "%",     [40.0, 35.0, 3.0, 0.0, 100.0]),
    t("Heating Valve Cmd",      &["heating", "valve"],                Role::Cmd,    "%",     [10.0, 10.0, 2.0, 0.0, 100.0]),
    t("Discharge Air Pressure", &["discharge", "air", "pressure"],    Role::Sensor, "inH₂O", [1.5, 0.3, 0.05, 0.0, 4.0]),
    t("Discharge Air Flow",     &["discharge", "air", "flow"],        Role::Sensor, "cfm",   [9000.0, 2500.0, 150.0, 0.0, 20000.0]),
    t("Return Air CO2",         &["return", "air", "co2"],            Role::Sensor, "ppm",   [650.0, 150.0, 20.0, 350.0, 2000.0]),
];

#[rustfmt::skip]
const VAV_POINTS: [Template; 15] = [
    t("Zone Air Temp",          &["zone", "air", "temp"],             Role::Sensor, "°F",    [71.0, 2.0, 0.3, 50.0, 95.0]),
    t("Zone Air Temp Sp",       &["zone", "air", "temp", "effective"], Role::Sp,    "°F",    [72.0, 1.0, 0.0, 60.0, 80.0]),
    t("Zone Cooling Sp",        &["zone", "air", "temp", "cooling"],  Role::Sp,     "°F",    [74.0, 0.5, 0.0, 68.0, 80.0]),
    t("Zone Heating Sp",        &["zone", "air", "temp", "heating"],  Role::Sp,     "°F",    [68.0, 0.5, 0.0, 60.0, 72.0]),
    t("Discharge Air Temp",     &["discharge", "air", "temp"],        Role::Sensor, "°F",    [60.0, 5.0, 0.5, 40.0, 100.0]),
    t("Zone Humidity",          &["zone", "air", "humidity"],         Role::Sensor, "%",     [42.0, 6.0, 0.8, 0.0, 100.0]),
    t("Zone CO2",               &["zone", "air", "co2"],              Role::Sensor, "ppm",   [600.0, 200.0, 25.0, 350.0, 2500.0]),
    t("Damper Cmd",             &["damper"],                          Role::Cmd,    "%",     [50.0, 30.0, 3.0, 0.0, 100.0]),
    t("Reheat Valve Cmd",       &["heating", "valve"],                Role::Cmd,    "%",     [15.0, 15.0, 2.0, 0.0, 100.0]),
    t("Discharge Air Flow",     &["discharge", "air", "flow"],        Role::Sensor, "cfm",   [450.0, 150.0, 15.0, 0.0, 1500.0]),
    t("Discharge Air Flow Sp",  &["discharge", "air", "flow"],        Role::Sp,     "cfm",   [450.0, 100.0, 0.0, 0.0, 1500.0]),
    t("Fan Power",              &["fan", "elec", "power"],            Role::Sensor, "kW",    [0.4, 0.2, 0.03, 0.0, 2.0]),
    t("Fan Speed Cmd",          &["fan", "speed"],                    Role::Cmd,    "%",     [60.0, 25.0, 2.0, 0.0, 100.0]),
    t("Lighting Power",         &["lights", "elec", "power"],         Role::Sensor, "kW",    [1.2, 0.8, 0.05, 0.0, 5.0]),
    t("Zone Air Pressure",      &["zone", "air", "pressure"],         Role::Sensor, "inH₂O", [0.02, 0.01, 0.002, -0.5, 0.5]),
];

/// The city, state, latitude, longitude and floor area (ft²) of each site.
const CITIES: [(&str, &str, f64, f64, f64); SITES] = [
    ("Denver", "CO", 39.74, -104.99, 182_000.0),
    ("Austin", "TX", 30.27, -97.74, 96_500.0),
    ("Chicago", "IL", 41.88, -87.63, 240_000.0),
    ("Seattle", "WA", 47.61, -122.33, 133_000.0),
    ("Boston", "MA", 42.36, -71.06, 88_000.0),
    ("Atlanta", "GA", 33.75, -84.39, 151_200.0),
    ("Phoenix", "AZ", 33.45, -112.07, 74_800.0),
    ("Minneapolis", "MN", 44.98, -93.27, 119_000.0),
    ("Richmond", "VA", 37.54, -77.44, 65_300.0),
    ("Portland", "OR", 45.52, -122.68, 102_400.0),
];

/// How one point's values evolve: a daily sine around a per-point level, a small per-day
/// drift and per-sample jitter, clamped to physical bounds and kept to two decimals.
#[derive(Clone, Debug)]
pub struct PointModel {
    seed: u64,
    level: f64,
    swing: f64,
    jitter: f64,
    phase: f64,
    min: f64,
    max: f64,
    /// The unit symbol of the point's values.
    pub unit: String,
}

/// 5-minute samples in a day.
pub const SAMPLES_PER_DAY: i64 = 288;

/// The sample index (5-minute steps since 1970-01-01T00:00Z) the simulated current values
/// start from: 2026-01-01T12:00Z. Any fixed instant would do; a midday one gives lively
/// values.
const CURRENT_ORIGIN: i64 = 20_454 * SAMPLES_PER_DAY + SAMPLES_PER_DAY / 2;

impl PointModel {
    fn new(template: &Template, seed: u64) -> PointModel {
        PointModel {
            seed,
            // Points of the same kind sit at slightly different levels, so they are told apart.
            level: template.base + 0.3 * template.swing * signed_unit(seed ^ 0x1EE7),
            swing: template.swing,
            jitter: template.jitter,
            phase: 0.3 * signed_unit(seed ^ 0xFA5E),
            min: template.min,
            max: template.max,
            unit: template.unit.to_string(),
        }
    }

    /// A model for a point known only by its record: a daily swing of a tenth of `level`
    /// (at least 1) around it, with a jitter of a tenth of the swing, clamped to `bounds`
    /// (none if they are out of order or not numbers).
    /// `seed` sets the point's phase, drift and jitter, as for the sample's points.
    pub fn around(seed: u64, level: f64, bounds: (f64, f64), unit: String) -> PointModel {
        let swing = (level.abs() * 0.1).max(1.0);
        // `clamp` needs ordered bounds that are numbers; anything else means no bounds.
        let (min, max) = if bounds.0 <= bounds.1 {
            bounds
        } else {
            (f64::NEG_INFINITY, f64::INFINITY)
        };
        PointModel {
            seed,
            level,
            swing,
            jitter: swing * 0.1,
            phase: 0.3 * signed_unit(seed ^ 0xFA5E),
            min,
            max,
            unit,
        }
    }

    /// The value at `sample`, counted in 5-minute steps since 1970-01-01T00:00Z.
    pub fn value_at(&self, sample: i64) -> f64 {
        let minute = (sample.rem_euclid(SAMPLES_PER_DAY) * 5) as f64;
        let day = sample.div_euclid(SAMPLES_PER_DAY);
        // The sine peaks mid-afternoon (15:00 when phase is 0), like a building's load.
        let angle = TAU * (minute / 1440.0 - 0.375) + self.phase;
        let daily = self.swing * angle.sin();
        let drift = 0.15 * self.swing * signed_unit(self.seed ^ mix(day as u64));
        let jitter = self.jitter * signed_unit(self.seed.rotate_left(17) ^ mix(sample as u64));
        let value = (self.level + daily + drift + jitter).clamp(self.min, self.max);
        (value * 100.0).round() / 100.0
    }

    /// The simulated current value after `step` advances.
    pub fn current(&self, step: u64) -> f64 {
        let step = i64::try_from(step).unwrap_or(i64::MAX - CURRENT_ORIGIN);
        self.value_at(CURRENT_ORIGIN.saturating_add(step))
    }

    /// Whether this point moves on tick number `tick`: about three ticks in four, so a
    /// poll sees some points changed and others not.
    pub fn moves_on(&self, tick: u64) -> bool {
        mix(self.seed ^ mix(tick)) & 3 != 0
    }
}

/// The records, in their fixed order (sites, then equips, then points), and the value model
/// of each one that is a point.
pub struct Built {
    pub records: Vec<Dict>,
    pub models: Vec<Option<PointModel>>,
}

fn site_id(site: usize) -> String {
    format!("s-{site}")
}

fn equip_id(site: usize, equip: usize) -> String {
    format!("e-{site}-{equip}")
}

fn point_id(site: usize, equip: usize, point: usize) -> String {
    format!("p-{site}-{equip}-{point}")
}

fn site_dis(site: usize) -> String {
    let (city, ..) = CITIES[site - 1];
    format!("{city} Office")
}

fn equip_nav(equip: usize) -> String {
    if equip <= AHUS_PER_SITE {
        format!("AHU-{equip}")
    } else {
        format!("VAV-{:02}", equip - AHUS_PER_SITE)
    }
}

fn reference(id: &str, dis: &str) -> Value {
    Value::from(Ref::make(id, Some(dis)))
}

fn put(dict: &mut Dict, tag: &str, value: Value) {
    dict.insert(tag.to_string(), value);
}

/// Builds every record of the sample site.
pub fn build() -> Built {
    let total = SITES * (1 + EQUIPS_PER_SITE * (1 + POINTS_PER_EQUIP));
    let mut sites = Vec::with_capacity(SITES);
    let mut equips = Vec::with_capacity(SITES * EQUIPS_PER_SITE);
    let mut points = Vec::with_capacity(SITES * EQUIPS_PER_SITE * POINTS_PER_EQUIP);
    let mut point_models = Vec::with_capacity(points.capacity());

    for site in 1..=SITES {
        let (city, state, lat, lng, area) = CITIES[site - 1];
        let site_ref = reference(&site_id(site), &site_dis(site));
        let mut record = Dict::new();
        put(&mut record, "id", site_ref.clone());
        put(&mut record, "dis", Value::from(site_dis(site).as_str()));
        put(&mut record, "site", Value::make_marker());
        put(&mut record, "area", number(area, "ft²"));
        put(&mut record, "geoCity", Value::from(city));
        put(&mut record, "geoState", Value::from(state));
        put(&mut record, "geoCountry", Value::from("US"));
        put(&mut record, "geoCoord", Value::make_coord_from(lat, lng));
        put(&mut record, "tz", Value::from(TZ));
        sites.push(record);

        for equip in 1..=EQUIPS_PER_SITE {
            let nav = equip_nav(equip);
            let dis = format!("{} {nav}", site_dis(site));
            let equip_ref = reference(&equip_id(site, equip), &dis);
            let is_ahu = equip <= AHUS_PER_SITE;
            let mut record = Dict::new();
            put(&mut record, "id", equip_ref.clone());
            put(&mut record, "dis", Value::from(dis.as_str()));
            put(&mut record, "navName", Value::from(nav.as_str()));
            put(&mut record, "equip", Value::make_marker());
            put(
                &mut record,
                if is_ahu { "ahu" } else { "vav" },
                Value::make_marker(),
            );
            put(&mut record, "siteRef", site_ref.clone());
            if !is_ahu {
                // VAV boxes alternate between the site's two air handlers.
                let ahu = 1 + (equip - AHUS_PER_SITE - 1) % AHUS_PER_SITE;
                let ahu_dis = format!("{} {}", site_dis(site), equip_nav(ahu));
                put(&mut record, "airRef", reference(&equip_id(site, ahu), &ahu_dis));
            }
            equips.push(record);

            let templates = if is_ahu { &AHU_POINTS } else { &VAV_POINTS };
            for point in 1..=POINTS_PER_EQUIP {
                let template = &templates[(point - 1) % templates.len()];
                let instance = (point - 1) / templates.len() + 1;
                let seed = mix(((site as u64) << 32) | ((equip as u64) << 16) | point as u64);
                let model = PointModel::new(template, seed);
                let nav = format!("{} {instance}", template.name);
                let dis = format!("{dis} {nav}");
                let mut record = Dict::new();
                put(&mut record, "id", reference(&point_id(site, equip, point), &dis));
                put(&mut record, "dis", Value::from(dis.as_str()));
                put(&mut record, "navName", Value::from(nav.as_str()));
                put(&mut record, "point", Value::make_marker());
                put(&mut record, "his", Value::make_marker());
                put(&mut record, "cur", Value::make_marker());
                put(&mut record, template.role.marker(), Value::make_marker());
                for marker in template.markers {
                    put(&mut record, marker, Value::make_marker());
                }
                put(&mut record, "kind", Value::from("Number"));
                put(&mut record, "unit", Value::from(template.unit));
                put(&mut record, "tz", Value::from(TZ));
                put(&mut record, "equipRef", equip_ref.clone());
                put(&mut record, "siteRef", site_ref.clone());
                put(&mut record, "curVal", number(model.current(0), template.unit));
                put(&mut record, "curStatus", Value::from("ok"));
                points.push(record);
                point_models.push(model);
            }
        }
    }

    let mut models = Vec::with_capacity(total);
    models.resize_with(sites.len() + equips.len(), || None);
    models.extend(point_models.into_iter().map(Some));
    let mut records = sites;
    records.append(&mut equips);
    records.append(&mut points);
    Built { records, models }
}
