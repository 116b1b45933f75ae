//! Avatars are decoded and re-encoded, never stored as uploaded: the first bytes decide the
//! type, the decoder (with bounds on dimensions and memory, so a decompression bomb is refused)
//! proves the whole file is that image, and the re-encoding keeps pixels only — EXIF (GPS
//! position, camera serial), XMP, ICC and text chunks are gone. The camera's orientation is
//! applied first, so nothing turns sideways. Large images are scaled down to fit
//! [`MAX_SIDE`]. JPEG stays JPEG; PNG and WebP become PNG (lossless).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

/// The largest side of a stored avatar, in pixels.
pub const MAX_SIDE: u32 = 512;
/// The largest side of an uploaded image the decoder accepts.
const MAX_INPUT_SIDE: u32 = 8192;

/// Why an upload is not an avatar.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("not a PNG, JPEG or WebP image")]
    Unsupported,
    #[error("the image could not be decoded: {0}")]
    Undecodable(String),
    #[error("re-encoding failed: {0}")]
    Encode(String),
}

/// A cleaned avatar: its type, bytes and dimensions.
#[derive(Debug)]
pub struct Avatar {
    pub mime: &'static str,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Decode `bytes` (PNG, JPEG or WebP, recognised from the bytes), apply the orientation, scale
/// down to fit [`MAX_SIDE`], re-encode without metadata. CPU-bound: call from a blocking thread.
pub fn clean(bytes: &[u8]) -> Result<Avatar, ImageError> {
    let format = match super::sniff_image(bytes) {
        Some("image/png") => ImageFormat::Png,
        Some("image/jpeg") => ImageFormat::Jpeg,
        Some("image/webp") => ImageFormat::WebP,
        _ => return Err(ImageError::Unsupported),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let undecodable = |e: image::ImageError| ImageError::Undecodable(e.to_string());
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let orientation = decoder.orientation().map_err(undecodable)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    img.apply_orientation(orientation);
    if img.width() > MAX_SIDE || img.height() > MAX_SIDE {
        img = img.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle);
    }
    let (width, height) = (img.width(), img.height());
    let mut out = Cursor::new(Vec::new());
    let mime = if format == ImageFormat::Jpeg {
        let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
        rgb.write_with_encoder(encoder)
            .map_err(|e| ImageError::Encode(e.to_string()))?;
        "image/jpeg"
    } else {
        img.write_to(&mut out, ImageFormat::Png)
            .map_err(|e| ImageError::Encode(e.to_string()))?;
        "image/png"
    };
    Ok(Avatar {
        mime,
        bytes: out.into_inner(),
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A JPEG with an EXIF segment naming a GPS position, as a phone writes it.
    pub fn jpeg_with_gps(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::new_rgb8(w, h);
        let jpeg = encode(&img, ImageFormat::Jpeg);
        let exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude 48.8584 N GPSLongitude 2.2945 E";
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(exif);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn metadata_is_dropped_and_size_bounded() {
        let with_gps = jpeg_with_gps(1200, 600);
        assert!(with_gps.windows(11).any(|w| w == b"GPSLatitude"));
        let a = clean(&with_gps).unwrap();
        assert_eq!(a.mime, "image/jpeg");
        assert_eq!((a.width, a.height), (512, 256));
        assert!(!a.bytes.windows(3).any(|w| w == b"GPS"));
        assert!(!a.bytes.windows(4).any(|w| w == b"Exif"));
        let back = image::load_from_memory(&a.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (512, 256));
    }

    #[test]
    fn png_and_webp_become_png() {
        let img = DynamicImage::new_rgba8(40, 30);
        for format in [ImageFormat::Png, ImageFormat::WebP] {
            let a = clean(&encode(&img, format)).unwrap();
            assert_eq!(a.mime, "image/png");
            assert_eq!((a.width, a.height), (40, 30));
        }
    }

    #[test]
    fn only_real_images_pass() {
        let header_only = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR garbage that is not a png".to_vec();
        assert!(matches!(
            clean(&header_only),
            Err(ImageError::Undecodable(_))
        ));
        assert!(matches!(clean(b"GIF89a...."), Err(ImageError::Unsupported)));
        // Dimensions past the bound are refused before any pixel memory is taken.
        let huge = {
            let mut png = encode(&DynamicImage::new_luma8(1, 1), ImageFormat::Png);
            // IHDR width at bytes 16..20: claim 100000 pixels.
            png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
            png
        };
        assert!(clean(&huge).is_err());
    }
}
