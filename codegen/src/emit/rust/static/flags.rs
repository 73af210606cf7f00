// The `Flags` type as far as it does not depend on the spec, emitted as it
// is. Each `spec!(...)` item of `impl Flags` stands for the items the spec
// decides, which the generator puts in its place (see `flags.rs`).

/// The flags byte of a frame: which kind of frame it is and which header
/// sections follow the base header.
///
/// A `Flags` keeps every bit it is given, named or not; see [`Flags::UNUSED`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    spec!(named_flags);

    /// No bit set: a v1 request.
    pub const EMPTY: Flags = Flags(0);

    spec!(masks);

    /// The flags with exactly these bits, named or not.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits)
    }

    /// The byte on the wire.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bits set in either.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// The bits of `self` that are not in `other`.
    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// `self` with the bits of `other` set when `on`, cleared otherwise.
    pub const fn with(self, other: Flags, on: bool) -> Flags {
        if on {
            self.union(other)
        } else {
            self.difference(other)
        }
    }

    spec!(since);

    /// The names of the named flags that are set, by ascending bit.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::NAMED
            .into_iter()
            .filter(move |(_, flag)| self.contains(*flag))
            .map(|(name, _)| name)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;

    fn bitor(self, other: Flags) -> Flags {
        self.union(other)
    }
}

impl core::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, other: Flags) {
        *self = self.union(other);
    }
}

impl From<Flags> for u8 {
    fn from(flags: Flags) -> u8 {
        flags.bits()
    }
}

/// Shows the named flags and, in hex, any other bits: `Flags(response | error)`.
impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Flags({self})")
    }
}

/// The names of the set flags joined by ` | `, then any unnamed bits in hex;
/// `empty` when no bit is set.
impl core::fmt::Display for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for name in self.names() {
            if !first {
                f.write_str(" | ")?;
            }
            f.write_str(name)?;
            first = false;
        }
        let rest = self.difference(Flags::KNOWN);
        if !rest.is_empty() {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{:#04x}", rest.0)?;
            first = false;
        }
        if first {
            f.write_str("empty")?;
        }
        Ok(())
    }
}
