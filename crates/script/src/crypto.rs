//! k6/crypto's functions on the host object: `hash(algorithm, input,
//! encoding)`, `hmac(algorithm, key, input, encoding)` and
//! `randomBytes(n)`. Input is a string (its UTF-8 bytes) or the bytes of an
//! ArrayBuffer (the shim passes them as an array of numbers); the output
//! encoding is k6's: `hex`, `base64`, `base64url`, `base64rawurl`, or
//! `binary` (an ArrayBuffer).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Value};
use sha2::Digest;

fn digest(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    Some(match alg {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha512_224" => sha2::Sha512_224::digest(data).to_vec(),
        "sha512_256" => sha2::Sha512_256::digest(data).to_vec(),
        _ => return None,
    })
}

fn hmac_of(alg: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    macro_rules! mac {
        ($d:ty) => {{
            let mut m = <Hmac<$d>>::new_from_slice(key).ok()?;
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }};
    }
    Some(match alg {
        "md5" => mac!(md5::Md5),
        "sha1" => mac!(sha1::Sha1),
        "sha256" => mac!(sha2::Sha256),
        "sha384" => mac!(sha2::Sha384),
        "sha512" => mac!(sha2::Sha512),
        _ => return None,
    })
}

fn encode<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>, encoding: &str) -> rquickjs::Result<Value<'js>> {
    use base64::engine::general_purpose as gp;
    let text = match encoding {
        "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        "base64" => gp::STANDARD.encode(&bytes),
        "base64url" => gp::URL_SAFE.encode(&bytes),
        "base64rawurl" => gp::URL_SAFE_NO_PAD.encode(&bytes),
        "binary" | "" => return Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value()),
        other => {
            return Err(Exception::throw_type(
                ctx,
                &format!("unknown output encoding '{other}' (hex, base64, base64url, base64rawurl or binary)"),
            ));
        }
    };
    Ok(rquickjs::String::from_str(ctx.clone(), &text)?.into_value())
}

const ALGORITHMS: &str = "md5, sha1, sha256, sha384, sha512, sha512_224, sha512_256";

pub(crate) fn install<'js>(ctx: &Ctx<'js>, h: &Object<'js>) -> rquickjs::Result<()> {
    h.set(
        "hash",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, alg: String, input: Value<'js>, enc: String| -> rquickjs::Result<Value<'js>> {
                let data = crate::init::bytes_of(&ctx, input)?;
                let Some(d) = digest(&alg, &data) else {
                    return Err(Exception::throw_type(&ctx, &format!("unknown hash '{alg}' ({ALGORITHMS})")));
                };
                encode(&ctx, d, &enc)
            },
        )?,
    )?;
    h.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             alg: String,
             key: Value<'js>,
             input: Value<'js>,
             enc: String|
             -> rquickjs::Result<Value<'js>> {
                let key = crate::init::bytes_of(&ctx, key)?;
                let data = crate::init::bytes_of(&ctx, input)?;
                let Some(d) = hmac_of(&alg, &key, &data) else {
                    return Err(Exception::throw_type(
                        &ctx,
                        &format!("unknown HMAC hash '{alg}' (md5, sha1, sha256, sha384, sha512)"),
                    ));
                };
                encode(&ctx, d, &enc)
            },
        )?,
    )?;
    h.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: f64| -> rquickjs::Result<ArrayBuffer<'js>> {
            if !(0.0..=1_048_576.0).contains(&n) {
                return Err(Exception::throw_range(&ctx, "randomBytes: between 0 and 1048576 bytes"));
            }
            let bytes: Vec<u8> = (0..n as usize).map(|_| fastrand::u8(..)).collect();
            ArrayBuffer::new(ctx.clone(), bytes)
        })?,
    )?;
    Ok(())
}
