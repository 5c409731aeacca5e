//! The generated catalog: category names, product names and the deterministic numbers behind them.
//!
//! Owns what a product *is* when seeded (same seed, same catalog) and the product images' bytes and
//! ETags. Does not touch the database: `db` inserts what [`Generator`] produces.

use bytes::Bytes;

/// The 50 categories; a product's noun is its category's name.
pub const CATEGORIES: [&str; 50] = [
    "Sneaker",
    "Boot",
    "Sandal",
    "Jacket",
    "Coat",
    "Hoodie",
    "Sweater",
    "Shirt",
    "Dress",
    "Skirt",
    "Jeans",
    "Scarf",
    "Hat",
    "Glove",
    "Backpack",
    "Wallet",
    "Watch",
    "Sunglasses",
    "Headphones",
    "Speaker",
    "Keyboard",
    "Mouse",
    "Monitor",
    "Laptop",
    "Tablet",
    "Phone Case",
    "Charger",
    "Lamp",
    "Chair",
    "Desk",
    "Sofa",
    "Rug",
    "Pillow",
    "Blanket",
    "Mug",
    "Kettle",
    "Blender",
    "Toaster",
    "Pan",
    "Knife",
    "Tent",
    "Sleeping Bag",
    "Bicycle",
    "Helmet",
    "Yoga Mat",
    "Dumbbell",
    "Board Game",
    "Puzzle",
    "Drone",
    "Camera",
];

const ADJECTIVES: [&str; 24] = [
    "Classic", "Urban", "Vintage", "Premium", "Everyday", "Compact", "Rugged", "Slim", "Cozy", "Bold", "Quiet",
    "Swift", "Arctic", "Solar", "Midnight", "Crimson", "Golden", "Misty", "Coastal", "Alpine", "Electric", "Velvet",
    "Nordic", "Desert",
];

const MATERIALS: [&str; 16] = [
    "Wool",
    "Leather",
    "Cotton",
    "Linen",
    "Bamboo",
    "Steel",
    "Oak",
    "Walnut",
    "Ceramic",
    "Canvas",
    "Denim",
    "Carbon",
    "Aluminium",
    "Cork",
    "Suede",
    "Silk",
];

/// A product as generated, before it has a row.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub category_id: i64,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub popularity: i64,
    pub stock: i64,
}

/// Generates the catalog from a seed.
#[derive(Debug)]
pub struct Generator {
    rng: fastrand::Rng,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self { rng: fastrand::Rng::with_seed(seed) }
    }

    pub fn product(&mut self, id: i64) -> NewProduct {
        let rng = &mut self.rng;
        let category = rng.usize(..CATEGORIES.len());
        let adjective = ADJECTIVES[rng.usize(..ADJECTIVES.len())];
        let material = MATERIALS[rng.usize(..MATERIALS.len())];
        let noun = CATEGORIES[category];
        // Popularity is heavily skewed, as real catalogs are: a few best sellers, a long tail.
        let popularity = (rng.f64().powi(3) * 1_000_000.0) as i64;
        let stock = if rng.u8(..100) < 3 { 0 } else { rng.i64(1..=500) };
        NewProduct {
            category_id: category as i64 + 1,
            name: format!("{adjective} {material} {noun} {id}"),
            description: format!(
                "The {} {noun} made of {}. Model {id}, built to last through every season.",
                adjective.to_lowercase(),
                material.to_lowercase()
            ),
            price_cents: rng.i64(1..=499) * 100 + 99,
            popularity,
            stock,
        }
    }
}

/// The image of product `id`: deterministic bytes, 20–60 KB, that start and end like a JPEG.
pub fn image(seed: u64, id: i64) -> Bytes {
    let mut rng = fastrand::Rng::with_seed(image_key(seed, id));
    let len = 20 * 1024 + rng.usize(..40 * 1024);
    let mut buf = Vec::with_capacity(len);
    buf.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00]);
    while buf.len() < len - 2 {
        buf.extend_from_slice(&rng.u64(..).to_le_bytes());
    }
    buf.truncate(len - 2);
    buf.extend_from_slice(&[0xFF, 0xD9]);
    Bytes::from(buf)
}

/// The strong ETag of product `id`'s image, known without generating it.
pub fn image_etag(seed: u64, id: i64) -> String {
    format!("\"img-{:016x}\"", image_key(seed, id))
}

fn image_key(seed: u64, id: i64) -> u64 {
    // SplitMix64 finaliser: spreads (seed, id) over the whole u64 range.
    let mut z = seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The site's stylesheet and script (`/static/app.css`, `/static/app.js`): their content type
/// and bytes, made once (about 12 KB and 48 KB, the size of a small shop's bundles).
pub fn asset(file: &str) -> Option<(&'static str, &'static [u8])> {
    static CSS: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    static JS: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let make = |rule: &dyn Fn(usize) -> String, size: usize| {
        let mut out = String::with_capacity(size + 128);
        let mut i = 0;
        while out.len() < size {
            out.push_str(&rule(i));
            i += 1;
        }
        out.into_bytes()
    };
    match file {
        "app.css" => Some((
            "text/css; charset=utf-8",
            CSS.get_or_init(|| make(&|i| format!(".c{i}{{margin:{}px;padding:{}px}}\n", i % 17, i % 5), 12 * 1024)),
        )),
        "app.js" => Some((
            "text/javascript; charset=utf-8",
            JS.get_or_init(|| make(&|i| format!("function f{i}(a){{return a*{}+{};}}\n", i % 13, i % 7), 48 * 1024)),
        )),
        _ => None,
    }
    .map(|(t, b)| (t, b.as_slice()))
}

/// A weak content hash for ETags of generated documents (FNV-1a, 64 bits).
pub fn etag_of(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_deterministic_and_sized() {
        for id in 1..50 {
            let a = image(7, id);
            assert_eq!(a, image(7, id));
            assert!((20 * 1024..=60 * 1024).contains(&a.len()), "{}", a.len());
            assert_eq!(&a[..2], &[0xFF, 0xD8]);
            assert_eq!(&a[a.len() - 2..], &[0xFF, 0xD9]);
        }
        assert_ne!(image(7, 1), image(8, 1));
        assert_ne!(image_etag(7, 1), image_etag(7, 2));
    }

    #[test]
    fn same_seed_same_catalog() {
        let (mut a, mut b) = (Generator::new(1), Generator::new(1));
        for id in 1..100 {
            assert_eq!(a.product(id).name, b.product(id).name);
        }
    }
}
