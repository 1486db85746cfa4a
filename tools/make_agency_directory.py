"""Generate the default national agency directory: src/lapor_es/data/agencies.csv.

Deterministic and re-runnable: the same script always writes the same bytes.

    .venv/bin/python tools/make_agency_directory.py [OUTPUT]

The published SP4N-LAPOR! figure is 679 connected agencies below the national desk
(34 ministries, 101 institutions, 544 local governments; see
the team's LAPOR! domain notes, lapor-domain.md, S22). This script reproduces exactly those counts:

- 34 ministries of the Kabinet Indonesia Maju (2019-2024), hand-curated below;
- 101 institutions (non-ministerial bodies, state commissions, courts, SOEs, state
  universities), hand-curated below, real names only;
- 34 provinces (the 2022 set, before the Papua split) and 510 regencies/cities, all real
  names with their province. The official 2022 count is 514 regencies/cities (416
  kabupaten + 98 kota, including DKI Jakarta's one administrative regency and five
  administrative cities); four real ones are left out (OMITTED_TO_MATCH_544) only so that
  the total is exactly 544. No generated (fictional) local government names are used.

Every agency below the desk gets exactly 3 units (kind ``unit``). Unit names are generic
but plausible organisational units (Inspektorat, Sekretariat, a Direktorat Jenderal, a
Dinas); for ministries the third unit is a real Direktorat Jenderal/Deputi of that ministry;
elsewhere the 3 units are picked deterministically from a pool (sha256 of the agency code).

Columns: code,name,kind,parent,region. Rows are in hierarchy order (a parent precedes its
children), so the file loads in one pass.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "src" / "lapor_es" / "data" / "agencies.csv"

HEADER = ("code", "name", "kind", "parent", "region")
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9.-]{1,63}$")

DESK_CODE = "LAPOR"
DESK_NAME = "Admin Nasional SP4N-LAPOR! (KemenPANRB)"

EXPECTED_MINISTRIES = 34
EXPECTED_INSTITUTIONS = 101
EXPECTED_LOCAL = 544
UNITS_PER_AGENCY = 3

Unit = tuple[str, str]  # (code suffix, name)

# --------------------------------------------------------------------------------------------
# Ministries: Kabinet Indonesia Maju (2019-2024). (code, name, leadership style, third unit)
# style "itjen": Inspektorat Jenderal + Sekretariat Jenderal
# style "menko": coordinating ministry: Sekretariat Kementerian Koordinator + Inspektorat
# style "kemen": Sekretariat Kementerian + Inspektorat
# --------------------------------------------------------------------------------------------
MINISTRIES: tuple[tuple[str, str, str, Unit], ...] = (
    (
        "KEMENKOPOLHUKAM",
        "Kementerian Koordinator Bidang Politik, Hukum, dan Keamanan",
        "menko",
        ("DEPKUMHAM", "Deputi Bidang Koordinasi Hukum dan Hak Asasi Manusia"),
    ),
    (
        "KEMENKOPEREKONOMIAN",
        "Kementerian Koordinator Bidang Perekonomian",
        "menko",
        ("DEPPANGAN", "Deputi Bidang Koordinasi Pangan dan Agribisnis"),
    ),
    (
        "KEMENKOMARVES",
        "Kementerian Koordinator Bidang Kemaritiman dan Investasi",
        "menko",
        ("DEPINVESTASI", "Deputi Bidang Koordinasi Investasi dan Pertambangan"),
    ),
    (
        "KEMENKOPMK",
        "Kementerian Koordinator Bidang Pembangunan Manusia dan Kebudayaan",
        "menko",
        ("DEPKESOS", "Deputi Bidang Koordinasi Peningkatan Kesejahteraan Sosial"),
    ),
    (
        "KEMENSETNEG",
        "Kementerian Sekretariat Negara",
        "kemen",
        ("DEPHUBLEMMAS", "Deputi Bidang Hubungan Kelembagaan dan Kemasyarakatan"),
    ),
    (
        "KEMENDAGRI",
        "Kementerian Dalam Negeri",
        "itjen",
        ("DITJENDUKCAPIL", "Direktorat Jenderal Kependudukan dan Pencatatan Sipil"),
    ),
    (
        "KEMENLU",
        "Kementerian Luar Negeri",
        "itjen",
        ("DITJENPROTKONS", "Direktorat Jenderal Protokol dan Konsuler"),
    ),
    (
        "KEMHAN",
        "Kementerian Pertahanan",
        "itjen",
        ("DITJENPOTHAN", "Direktorat Jenderal Potensi Pertahanan"),
    ),
    (
        "KEMENAG",
        "Kementerian Agama",
        "itjen",
        ("DITJENPHU", "Direktorat Jenderal Penyelenggaraan Haji dan Umrah"),
    ),
    (
        "KEMENKUMHAM",
        "Kementerian Hukum dan Hak Asasi Manusia",
        "itjen",
        ("DITJENIM", "Direktorat Jenderal Imigrasi"),
    ),
    ("KEMENKEU", "Kementerian Keuangan", "itjen", ("DJP", "Direktorat Jenderal Pajak")),
    (
        "KEMENDIKBUDRISTEK",
        "Kementerian Pendidikan, Kebudayaan, Riset, dan Teknologi",
        "itjen",
        ("DITJENDIKTIRISTEK", "Direktorat Jenderal Pendidikan Tinggi, Riset, dan Teknologi"),
    ),
    (
        "KEMENKES",
        "Kementerian Kesehatan",
        "itjen",
        ("DITJENYANKES", "Direktorat Jenderal Pelayanan Kesehatan"),
    ),
    (
        "KEMENSOS",
        "Kementerian Sosial",
        "itjen",
        ("DITJENLINJAMSOS", "Direktorat Jenderal Perlindungan dan Jaminan Sosial"),
    ),
    (
        "KEMNAKER",
        "Kementerian Ketenagakerjaan",
        "itjen",
        (
            "DITJENBINWASNAKER",
            "Direktorat Jenderal Pembinaan Pengawasan Ketenagakerjaan dan "
            "Keselamatan dan Kesehatan Kerja",
        ),
    ),
    (
        "KEMENPERIN",
        "Kementerian Perindustrian",
        "itjen",
        ("DITJENIKMA", "Direktorat Jenderal Industri Kecil, Menengah, dan Aneka"),
    ),
    (
        "KEMENDAG",
        "Kementerian Perdagangan",
        "itjen",
        ("DITJENPKTN", "Direktorat Jenderal Perlindungan Konsumen dan Tertib Niaga"),
    ),
    (
        "KESDM",
        "Kementerian Energi dan Sumber Daya Mineral",
        "itjen",
        ("DITJENGATRIK", "Direktorat Jenderal Ketenagalistrikan"),
    ),
    (
        "KEMENPUPR",
        "Kementerian Pekerjaan Umum dan Perumahan Rakyat",
        "itjen",
        ("DITJENBM", "Direktorat Jenderal Bina Marga"),
    ),
    (
        "KEMENHUB",
        "Kementerian Perhubungan",
        "itjen",
        ("DITJENHUBDAT", "Direktorat Jenderal Perhubungan Darat"),
    ),
    (
        "KEMENKOMINFO",
        "Kementerian Komunikasi dan Informatika",
        "itjen",
        ("DITJENAPTIKA", "Direktorat Jenderal Aplikasi Informatika"),
    ),
    (
        "KEMENTAN",
        "Kementerian Pertanian",
        "itjen",
        ("DITJENPSP", "Direktorat Jenderal Prasarana dan Sarana Pertanian"),
    ),
    (
        "KLHK",
        "Kementerian Lingkungan Hidup dan Kehutanan",
        "itjen",
        ("DITJENGAKKUM", "Direktorat Jenderal Penegakan Hukum Lingkungan Hidup dan Kehutanan"),
    ),
    (
        "KKP",
        "Kementerian Kelautan dan Perikanan",
        "itjen",
        ("DITJENPT", "Direktorat Jenderal Perikanan Tangkap"),
    ),
    (
        "KEMENDESPDTT",
        "Kementerian Desa, Pembangunan Daerah Tertinggal, dan Transmigrasi",
        "itjen",
        ("DITJENPDP", "Direktorat Jenderal Pembangunan Desa dan Perdesaan"),
    ),
    (
        "KEMENATRBPN",
        "Kementerian Agraria dan Tata Ruang/Badan Pertanahan Nasional",
        "itjen",
        ("DITJENPHPT", "Direktorat Jenderal Penetapan Hak dan Pendaftaran Tanah"),
    ),
    (
        "KEMENPPNBAPPENAS",
        "Kementerian Perencanaan Pembangunan Nasional/Badan Perencanaan Pembangunan Nasional",
        "kemen",
        ("DEPMONEV", "Deputi Bidang Pemantauan, Evaluasi, dan Pengendalian Pembangunan"),
    ),
    (
        "KEMENPANRB",
        "Kementerian Pendayagunaan Aparatur Negara dan Reformasi Birokrasi",
        "kemen",
        ("DEPYANLIK", "Deputi Bidang Pelayanan Publik"),
    ),
    (
        "KEMENBUMN",
        "Kementerian Badan Usaha Milik Negara",
        "kemen",
        ("DEPHUKUM", "Deputi Bidang Hukum dan Peraturan Perundang-undangan"),
    ),
    (
        "KEMENKOPUKM",
        "Kementerian Koperasi dan Usaha Kecil dan Menengah",
        "kemen",
        ("DEPUM", "Deputi Bidang Usaha Mikro"),
    ),
    (
        "KEMENPAREKRAF",
        "Kementerian Pariwisata dan Ekonomi Kreatif/Badan Pariwisata dan Ekonomi Kreatif",
        "kemen",
        ("DEPINDUSTRI", "Deputi Bidang Industri dan Investasi"),
    ),
    (
        "KEMENPPPA",
        "Kementerian Pemberdayaan Perempuan dan Perlindungan Anak",
        "kemen",
        ("DEPPHA", "Deputi Bidang Pemenuhan Hak Anak"),
    ),
    (
        "KEMENINVESTASI",
        "Kementerian Investasi/Badan Koordinasi Penanaman Modal",
        "kemen",
        ("DEPYANMODAL", "Deputi Bidang Pelayanan Penanaman Modal"),
    ),
    (
        "KEMENPORA",
        "Kementerian Pemuda dan Olahraga",
        "kemen",
        ("DEPPEMUDA", "Deputi Bidang Pemberdayaan Pemuda"),
    ),
)

MINISTRY_HEAD_UNITS: dict[str, tuple[Unit, Unit]] = {
    "itjen": (("ITJEN", "Inspektorat Jenderal"), ("SETJEN", "Sekretariat Jenderal")),
    "menko": (("INSPEKTORAT", "Inspektorat"), ("SESMENKO", "Sekretariat Kementerian Koordinator")),
    "kemen": (("INSPEKTORAT", "Inspektorat"), ("SESKEMEN", "Sekretariat Kementerian")),
}

# --------------------------------------------------------------------------------------------
# Institutions: (code, name, unit pool). Pools: "lembaga" (non-ministerial government body),
# "komisi" (state institution / commission / court with a Sekretariat Jenderal), "keuangan"
# (monetary and financial authorities), "bumn" (state-owned enterprises and BPJS), "ptn"
# (state universities), or "fixed" (units listed in INSTITUTION_FIXED_UNITS).
# --------------------------------------------------------------------------------------------
INSTITUTIONS: tuple[tuple[str, str, str], ...] = (
    ("BPS", "Badan Pusat Statistik", "lembaga"),
    ("BMKG", "Badan Meteorologi, Klimatologi, dan Geofisika", "lembaga"),
    ("BPOM", "Badan Pengawas Obat dan Makanan", "lembaga"),
    ("BKN", "Badan Kepegawaian Negara", "lembaga"),
    ("LAN", "Lembaga Administrasi Negara", "lembaga"),
    ("ANRI", "Arsip Nasional Republik Indonesia", "lembaga"),
    ("BNPB", "Badan Nasional Penanggulangan Bencana", "lembaga"),
    ("BNN", "Badan Narkotika Nasional", "lembaga"),
    ("BPJS-KESEHATAN", "BPJS Kesehatan", "bumn"),
    ("BPJS-KETENAGAKERJAAN", "BPJS Ketenagakerjaan", "bumn"),
    ("ORI", "Ombudsman Republik Indonesia", "komisi"),
    ("KPK", "Komisi Pemberantasan Korupsi", "komisi"),
    ("POLRI", "Kepolisian Negara Republik Indonesia", "fixed"),
    ("KEJAGUNG", "Kejaksaan Agung Republik Indonesia", "fixed"),
    ("TNI", "Tentara Nasional Indonesia", "fixed"),
    ("BPKP", "Badan Pengawasan Keuangan dan Pembangunan", "lembaga"),
    ("BKKBN", "Badan Kependudukan dan Keluarga Berencana Nasional", "lembaga"),
    ("LKPP", "Lembaga Kebijakan Pengadaan Barang/Jasa Pemerintah", "lembaga"),
    ("BSSN", "Badan Siber dan Sandi Negara", "lembaga"),
    ("BRIN", "Badan Riset dan Inovasi Nasional", "lembaga"),
    ("BIG", "Badan Informasi Geospasial", "lembaga"),
    ("BASARNAS", "Badan Nasional Pencarian dan Pertolongan", "lembaga"),
    ("BAKAMLA", "Badan Keamanan Laut Republik Indonesia", "lembaga"),
    ("BP2MI", "Badan Pelindungan Pekerja Migran Indonesia", "lembaga"),
    ("BAPANAS", "Badan Pangan Nasional", "lembaga"),
    ("OJK", "Otoritas Jasa Keuangan", "keuangan"),
    ("BI", "Bank Indonesia", "keuangan"),
    ("LPS", "Lembaga Penjamin Simpanan", "keuangan"),
    ("KPU", "Komisi Pemilihan Umum", "komisi"),
    ("BAWASLU", "Badan Pengawas Pemilihan Umum", "komisi"),
    ("KPPU", "Komisi Pengawas Persaingan Usaha", "komisi"),
    ("KIP", "Komisi Informasi Pusat", "komisi"),
    ("KOMNASHAM", "Komisi Nasional Hak Asasi Manusia", "komisi"),
    ("KPAI", "Komisi Perlindungan Anak Indonesia", "komisi"),
    ("KOMNASPEREMPUAN", "Komisi Nasional Anti Kekerasan terhadap Perempuan", "komisi"),
    ("LPSK", "Lembaga Perlindungan Saksi dan Korban", "komisi"),
    ("BNPT", "Badan Nasional Penanggulangan Terorisme", "lembaga"),
    ("BNSP", "Badan Nasional Sertifikasi Profesi", "lembaga"),
    ("BSN", "Badan Standardisasi Nasional", "lembaga"),
    ("BAPETEN", "Badan Pengawas Tenaga Nuklir", "lembaga"),
    ("PERPUSNAS", "Perpustakaan Nasional Republik Indonesia", "lembaga"),
    ("BNPP", "Badan Nasional Pengelola Perbatasan", "lembaga"),
    ("BPIP", "Badan Pembinaan Ideologi Pancasila", "lembaga"),
    ("BARANTIN", "Badan Karantina Indonesia", "lembaga"),
    ("BPK", "Badan Pemeriksa Keuangan Republik Indonesia", "komisi"),
    ("MA", "Mahkamah Agung Republik Indonesia", "fixed"),
    ("MK", "Mahkamah Konstitusi Republik Indonesia", "komisi"),
    ("KY", "Komisi Yudisial Republik Indonesia", "komisi"),
    ("KASN", "Komisi Aparatur Sipil Negara", "komisi"),
    ("PPATK", "Pusat Pelaporan dan Analisis Transaksi Keuangan", "lembaga"),
    ("BPH-MIGAS", "Badan Pengatur Hilir Minyak dan Gas Bumi", "lembaga"),
    (
        "SKK-MIGAS",
        "Satuan Kerja Khusus Pelaksana Kegiatan Usaha Hulu Minyak dan Gas Bumi",
        "lembaga",
    ),
    (
        "BP-BATAM",
        "Badan Pengusahaan Kawasan Perdagangan Bebas dan Pelabuhan Bebas Batam",
        "lembaga",
    ),
    ("BRGM", "Badan Restorasi Gambut dan Mangrove", "lembaga"),
    ("BPDPKS", "Badan Pengelola Dana Perkebunan Kelapa Sawit", "lembaga"),
    ("BPKH", "Badan Pengelola Keuangan Haji", "lembaga"),
    ("PLN", "PT PLN (Persero)", "bumn"),
    ("PERTAMINA", "PT Pertamina (Persero)", "bumn"),
    ("KAI", "PT Kereta Api Indonesia (Persero)", "bumn"),
    ("POSIND", "PT Pos Indonesia (Persero)", "bumn"),
    ("TELKOM", "PT Telkom Indonesia (Persero) Tbk", "bumn"),
    ("BRI", "PT Bank Rakyat Indonesia (Persero) Tbk", "bumn"),
    ("BNI", "PT Bank Negara Indonesia (Persero) Tbk", "bumn"),
    ("MANDIRI", "PT Bank Mandiri (Persero) Tbk", "bumn"),
    ("BTN", "PT Bank Tabungan Negara (Persero) Tbk", "bumn"),
    ("JASAMARGA", "PT Jasa Marga (Persero) Tbk", "bumn"),
    ("ANGKASAPURA1", "PT Angkasa Pura I", "bumn"),
    ("ANGKASAPURA2", "PT Angkasa Pura II", "bumn"),
    ("PELNI", "PT Pelayaran Nasional Indonesia (Persero)", "bumn"),
    ("PELINDO", "PT Pelabuhan Indonesia (Persero)", "bumn"),
    ("BULOG", "Perum Bulog", "bumn"),
    ("PUPUK-INDONESIA", "PT Pupuk Indonesia (Persero)", "bumn"),
    ("GARUDA", "PT Garuda Indonesia (Persero) Tbk", "bumn"),
    ("ASDP", "PT ASDP Indonesia Ferry (Persero)", "bumn"),
    ("TASPEN", "PT Taspen (Persero)", "bumn"),
    ("ASABRI", "PT Asabri (Persero)", "bumn"),
    ("JASARAHARJA", "PT Jasa Raharja", "bumn"),
    ("PGN", "PT Perusahaan Gas Negara Tbk", "bumn"),
    ("DAMRI", "Perum DAMRI", "bumn"),
    ("PERUMNAS", "Perum Perumnas", "bumn"),
    ("PEGADAIAN", "PT Pegadaian", "bumn"),
    ("BSI", "PT Bank Syariah Indonesia Tbk", "bumn"),
    ("UI", "Universitas Indonesia", "ptn"),
    ("UGM", "Universitas Gadjah Mada", "ptn"),
    ("ITB", "Institut Teknologi Bandung", "ptn"),
    ("IPB", "Institut Pertanian Bogor", "ptn"),
    ("UNAIR", "Universitas Airlangga", "ptn"),
    ("UNDIP", "Universitas Diponegoro", "ptn"),
    ("ITS", "Institut Teknologi Sepuluh Nopember", "ptn"),
    ("UNPAD", "Universitas Padjadjaran", "ptn"),
    ("UB", "Universitas Brawijaya", "ptn"),
    ("UNHAS", "Universitas Hasanuddin", "ptn"),
    ("USU", "Universitas Sumatera Utara", "ptn"),
    ("UNAND", "Universitas Andalas", "ptn"),
    ("UNS", "Universitas Sebelas Maret", "ptn"),
    ("UNUD", "Universitas Udayana", "ptn"),
    ("UNSRI", "Universitas Sriwijaya", "ptn"),
    ("UNY", "Universitas Negeri Yogyakarta", "ptn"),
    ("UPI", "Universitas Pendidikan Indonesia", "ptn"),
    ("UNJ", "Universitas Negeri Jakarta", "ptn"),
    ("UM", "Universitas Negeri Malang", "ptn"),
)

INSTITUTION_FIXED_UNITS: dict[str, tuple[Unit, Unit, Unit]] = {
    "POLRI": (
        ("ITWASUM", "Inspektorat Pengawasan Umum"),
        ("DIVPROPAM", "Divisi Profesi dan Pengamanan"),
        ("DIVHUMAS", "Divisi Hubungan Masyarakat"),
    ),
    "KEJAGUNG": (
        ("JAMWAS", "Jaksa Agung Muda Bidang Pengawasan"),
        ("JAMBIN", "Jaksa Agung Muda Bidang Pembinaan"),
        ("JAMPIDSUS", "Jaksa Agung Muda Bidang Tindak Pidana Khusus"),
    ),
    "TNI": (
        ("ITJEN", "Inspektorat Jenderal TNI"),
        ("PUSPEN", "Pusat Penerangan TNI"),
        ("PUSPOM", "Pusat Polisi Militer TNI"),
    ),
    "MA": (
        ("BAWAS", "Badan Pengawasan"),
        ("KEPANITERAAN", "Kepaniteraan"),
        ("BADILUM", "Direktorat Jenderal Badan Peradilan Umum"),
    ),
}

UNIT_POOLS: dict[str, tuple[Unit, ...]] = {
    "lembaga": (
        ("INSPEKTORAT", "Inspektorat Utama"),
        ("SESTAMA", "Sekretariat Utama"),
        ("HUMAS", "Biro Hubungan Masyarakat"),
        ("PPID", "Pejabat Pengelola Informasi dan Dokumentasi"),
        ("ULP", "Unit Layanan Pengaduan Masyarakat"),
    ),
    "komisi": (
        ("SETJEN", "Sekretariat Jenderal"),
        ("INSPEKTORAT", "Inspektorat"),
        ("HUMAS", "Biro Hubungan Masyarakat"),
        ("DUMAS", "Bagian Pengaduan Masyarakat"),
        ("PPID", "Pejabat Pengelola Informasi dan Dokumentasi"),
    ),
    "keuangan": (
        ("AUDIT", "Satuan Kerja Audit Intern"),
        ("KOMUNIKASI", "Departemen Komunikasi"),
        ("PERLINDUNGAN", "Departemen Perlindungan Konsumen"),
        ("SEKRETARIAT", "Sekretariat Lembaga"),
        ("ULP", "Unit Layanan Pengaduan"),
    ),
    "bumn": (
        ("SPI", "Satuan Pengawasan Intern"),
        ("CORSEC", "Sekretariat Perusahaan"),
        ("CS", "Divisi Layanan Pelanggan"),
        ("WBS", "Unit Pengelola Whistleblowing System"),
        ("HC", "Divisi Human Capital"),
    ),
    "ptn": (
        ("SPI", "Satuan Pengawas Internal"),
        ("DITMAWA", "Direktorat Kemahasiswaan"),
        ("DITDIK", "Direktorat Pendidikan"),
        ("ULT", "Unit Layanan Terpadu"),
        ("HUMAS", "Kantor Hubungan Masyarakat"),
    ),
    "pemda": (
        ("INSPEKTORAT", "Inspektorat Daerah"),
        ("DINKES", "Dinas Kesehatan"),
        ("DISDIK", "Dinas Pendidikan"),
        ("DINSOS", "Dinas Sosial"),
        ("DISDUKCAPIL", "Dinas Kependudukan dan Pencatatan Sipil"),
        ("DPMPTSP", "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu"),
        ("DISHUB", "Dinas Perhubungan"),
        ("DPUPR", "Dinas Pekerjaan Umum dan Penataan Ruang"),
        ("DISKOMINFO", "Dinas Komunikasi dan Informatika"),
        ("RSUD", "Rumah Sakit Umum Daerah"),
    ),
}

# --------------------------------------------------------------------------------------------
# Local governments: the 34 provinces of 2022 with their real regencies (kabupaten) and
# cities (kota). (province code suffix, province name, regencies, cities)
# --------------------------------------------------------------------------------------------
PROVINCES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "ACEH",
        "Aceh",
        (
            "Aceh Barat",
            "Aceh Barat Daya",
            "Aceh Besar",
            "Aceh Jaya",
            "Aceh Selatan",
            "Aceh Singkil",
            "Aceh Tamiang",
            "Aceh Tengah",
            "Aceh Tenggara",
            "Aceh Timur",
            "Aceh Utara",
            "Bener Meriah",
            "Bireuen",
            "Gayo Lues",
            "Nagan Raya",
            "Pidie",
            "Pidie Jaya",
            "Simeulue",
        ),
        ("Banda Aceh", "Langsa", "Lhokseumawe", "Sabang", "Subulussalam"),
    ),
    (
        "SUMUT",
        "Sumatera Utara",
        (
            "Asahan",
            "Batu Bara",
            "Dairi",
            "Deli Serdang",
            "Humbang Hasundutan",
            "Karo",
            "Labuhanbatu",
            "Labuhanbatu Selatan",
            "Labuhanbatu Utara",
            "Langkat",
            "Mandailing Natal",
            "Nias",
            "Nias Barat",
            "Nias Selatan",
            "Nias Utara",
            "Padang Lawas",
            "Padang Lawas Utara",
            "Pakpak Bharat",
            "Samosir",
            "Serdang Bedagai",
            "Simalungun",
            "Tapanuli Selatan",
            "Tapanuli Tengah",
            "Tapanuli Utara",
            "Toba",
        ),
        (
            "Binjai",
            "Gunungsitoli",
            "Medan",
            "Padangsidimpuan",
            "Pematangsiantar",
            "Sibolga",
            "Tanjungbalai",
            "Tebing Tinggi",
        ),
    ),
    (
        "SUMBAR",
        "Sumatera Barat",
        (
            "Agam",
            "Dharmasraya",
            "Kepulauan Mentawai",
            "Lima Puluh Kota",
            "Padang Pariaman",
            "Pasaman",
            "Pasaman Barat",
            "Pesisir Selatan",
            "Sijunjung",
            "Solok",
            "Solok Selatan",
            "Tanah Datar",
        ),
        (
            "Bukittinggi",
            "Padang",
            "Padang Panjang",
            "Pariaman",
            "Payakumbuh",
            "Sawahlunto",
            "Solok",
        ),
    ),
    (
        "RIAU",
        "Riau",
        (
            "Bengkalis",
            "Indragiri Hilir",
            "Indragiri Hulu",
            "Kampar",
            "Kepulauan Meranti",
            "Kuantan Singingi",
            "Pelalawan",
            "Rokan Hilir",
            "Rokan Hulu",
            "Siak",
        ),
        ("Dumai", "Pekanbaru"),
    ),
    (
        "JAMBI",
        "Jambi",
        (
            "Batanghari",
            "Bungo",
            "Kerinci",
            "Merangin",
            "Muaro Jambi",
            "Sarolangun",
            "Tanjung Jabung Barat",
            "Tanjung Jabung Timur",
            "Tebo",
        ),
        ("Jambi", "Sungai Penuh"),
    ),
    (
        "SUMSEL",
        "Sumatera Selatan",
        (
            "Banyuasin",
            "Empat Lawang",
            "Lahat",
            "Muara Enim",
            "Musi Banyuasin",
            "Musi Rawas",
            "Musi Rawas Utara",
            "Ogan Ilir",
            "Ogan Komering Ilir",
            "Ogan Komering Ulu",
            "Ogan Komering Ulu Selatan",
            "Ogan Komering Ulu Timur",
            "Penukal Abab Lematang Ilir",
        ),
        ("Lubuklinggau", "Pagar Alam", "Palembang", "Prabumulih"),
    ),
    (
        "BENGKULU",
        "Bengkulu",
        (
            "Bengkulu Selatan",
            "Bengkulu Tengah",
            "Bengkulu Utara",
            "Kaur",
            "Kepahiang",
            "Lebong",
            "Mukomuko",
            "Rejang Lebong",
            "Seluma",
        ),
        ("Bengkulu",),
    ),
    (
        "LAMPUNG",
        "Lampung",
        (
            "Lampung Barat",
            "Lampung Selatan",
            "Lampung Tengah",
            "Lampung Timur",
            "Lampung Utara",
            "Mesuji",
            "Pesawaran",
            "Pesisir Barat",
            "Pringsewu",
            "Tanggamus",
            "Tulang Bawang",
            "Tulang Bawang Barat",
            "Way Kanan",
        ),
        ("Bandar Lampung", "Metro"),
    ),
    (
        "BABEL",
        "Kepulauan Bangka Belitung",
        ("Bangka", "Bangka Barat", "Bangka Selatan", "Bangka Tengah", "Belitung", "Belitung Timur"),
        ("Pangkalpinang",),
    ),
    (
        "KEPRI",
        "Kepulauan Riau",
        ("Bintan", "Karimun", "Kepulauan Anambas", "Lingga", "Natuna"),
        ("Batam", "Tanjungpinang"),
    ),
    # DKI Jakarta: one administrative regency and five administrative cities (not autonomous,
    # see ADMINISTRATIVE_PROVINCES; they are counted in the official 416 + 98).
    (
        "DKI",
        "DKI Jakarta",
        ("Kepulauan Seribu",),
        ("Jakarta Barat", "Jakarta Pusat", "Jakarta Selatan", "Jakarta Timur", "Jakarta Utara"),
    ),
    (
        "JABAR",
        "Jawa Barat",
        (
            "Bandung",
            "Bandung Barat",
            "Bekasi",
            "Bogor",
            "Ciamis",
            "Cianjur",
            "Cirebon",
            "Garut",
            "Indramayu",
            "Karawang",
            "Kuningan",
            "Majalengka",
            "Pangandaran",
            "Purwakarta",
            "Subang",
            "Sukabumi",
            "Sumedang",
            "Tasikmalaya",
        ),
        (
            "Bandung",
            "Banjar",
            "Bekasi",
            "Bogor",
            "Cimahi",
            "Cirebon",
            "Depok",
            "Sukabumi",
            "Tasikmalaya",
        ),
    ),
    (
        "JATENG",
        "Jawa Tengah",
        (
            "Banjarnegara",
            "Banyumas",
            "Batang",
            "Blora",
            "Boyolali",
            "Brebes",
            "Cilacap",
            "Demak",
            "Grobogan",
            "Jepara",
            "Karanganyar",
            "Kebumen",
            "Kendal",
            "Klaten",
            "Kudus",
            "Magelang",
            "Pati",
            "Pekalongan",
            "Pemalang",
            "Purbalingga",
            "Purworejo",
            "Rembang",
            "Semarang",
            "Sragen",
            "Sukoharjo",
            "Tegal",
            "Temanggung",
            "Wonogiri",
            "Wonosobo",
        ),
        ("Magelang", "Pekalongan", "Salatiga", "Semarang", "Surakarta", "Tegal"),
    ),
    (
        "DIY",
        "Daerah Istimewa Yogyakarta",
        ("Bantul", "Gunungkidul", "Kulon Progo", "Sleman"),
        ("Yogyakarta",),
    ),
    (
        "JATIM",
        "Jawa Timur",
        (
            "Bangkalan",
            "Banyuwangi",
            "Blitar",
            "Bojonegoro",
            "Bondowoso",
            "Gresik",
            "Jember",
            "Jombang",
            "Kediri",
            "Lamongan",
            "Lumajang",
            "Madiun",
            "Magetan",
            "Malang",
            "Mojokerto",
            "Nganjuk",
            "Ngawi",
            "Pacitan",
            "Pamekasan",
            "Pasuruan",
            "Ponorogo",
            "Probolinggo",
            "Sampang",
            "Sidoarjo",
            "Situbondo",
            "Sumenep",
            "Trenggalek",
            "Tuban",
            "Tulungagung",
        ),
        (
            "Batu",
            "Blitar",
            "Kediri",
            "Madiun",
            "Malang",
            "Mojokerto",
            "Pasuruan",
            "Probolinggo",
            "Surabaya",
        ),
    ),
    (
        "BANTEN",
        "Banten",
        ("Lebak", "Pandeglang", "Serang", "Tangerang"),
        ("Cilegon", "Serang", "Tangerang", "Tangerang Selatan"),
    ),
    (
        "BALI",
        "Bali",
        (
            "Badung",
            "Bangli",
            "Buleleng",
            "Gianyar",
            "Jembrana",
            "Karangasem",
            "Klungkung",
            "Tabanan",
        ),
        ("Denpasar",),
    ),
    (
        "NTB",
        "Nusa Tenggara Barat",
        (
            "Bima",
            "Dompu",
            "Lombok Barat",
            "Lombok Tengah",
            "Lombok Timur",
            "Lombok Utara",
            "Sumbawa",
            "Sumbawa Barat",
        ),
        ("Bima", "Mataram"),
    ),
    (
        "NTT",
        "Nusa Tenggara Timur",
        (
            "Alor",
            "Belu",
            "Ende",
            "Flores Timur",
            "Kupang",
            "Lembata",
            "Malaka",
            "Manggarai",
            "Manggarai Barat",
            "Manggarai Timur",
            "Nagekeo",
            "Ngada",
            "Rote Ndao",
            "Sabu Raijua",
            "Sikka",
            "Sumba Barat",
            "Sumba Barat Daya",
            "Sumba Tengah",
            "Sumba Timur",
            "Timor Tengah Selatan",
            "Timor Tengah Utara",
        ),
        ("Kupang",),
    ),
    (
        "KALBAR",
        "Kalimantan Barat",
        (
            "Bengkayang",
            "Kapuas Hulu",
            "Kayong Utara",
            "Ketapang",
            "Kubu Raya",
            "Landak",
            "Melawi",
            "Mempawah",
            "Sambas",
            "Sanggau",
            "Sekadau",
            "Sintang",
        ),
        ("Pontianak", "Singkawang"),
    ),
    (
        "KALTENG",
        "Kalimantan Tengah",
        (
            "Barito Selatan",
            "Barito Timur",
            "Barito Utara",
            "Gunung Mas",
            "Kapuas",
            "Katingan",
            "Kotawaringin Barat",
            "Kotawaringin Timur",
            "Lamandau",
            "Murung Raya",
            "Pulang Pisau",
            "Seruyan",
            "Sukamara",
        ),
        ("Palangka Raya",),
    ),
    (
        "KALSEL",
        "Kalimantan Selatan",
        (
            "Balangan",
            "Banjar",
            "Barito Kuala",
            "Hulu Sungai Selatan",
            "Hulu Sungai Tengah",
            "Hulu Sungai Utara",
            "Kotabaru",
            "Tabalong",
            "Tanah Bumbu",
            "Tanah Laut",
            "Tapin",
        ),
        ("Banjarbaru", "Banjarmasin"),
    ),
    (
        "KALTIM",
        "Kalimantan Timur",
        (
            "Berau",
            "Kutai Barat",
            "Kutai Kartanegara",
            "Kutai Timur",
            "Mahakam Ulu",
            "Paser",
            "Penajam Paser Utara",
        ),
        ("Balikpapan", "Bontang", "Samarinda"),
    ),
    (
        "KALTARA",
        "Kalimantan Utara",
        ("Bulungan", "Malinau", "Nunukan", "Tana Tidung"),
        ("Tarakan",),
    ),
    (
        "SULUT",
        "Sulawesi Utara",
        (
            "Bolaang Mongondow",
            "Bolaang Mongondow Selatan",
            "Bolaang Mongondow Timur",
            "Bolaang Mongondow Utara",
            "Kepulauan Sangihe",
            "Kepulauan Siau Tagulandang Biaro",
            "Kepulauan Talaud",
            "Minahasa",
            "Minahasa Selatan",
            "Minahasa Tenggara",
            "Minahasa Utara",
        ),
        ("Bitung", "Kotamobagu", "Manado", "Tomohon"),
    ),
    (
        "SULTENG",
        "Sulawesi Tengah",
        (
            "Banggai",
            "Banggai Kepulauan",
            "Banggai Laut",
            "Buol",
            "Donggala",
            "Morowali",
            "Morowali Utara",
            "Parigi Moutong",
            "Poso",
            "Sigi",
            "Tojo Una-Una",
            "Tolitoli",
        ),
        ("Palu",),
    ),
    (
        "SULSEL",
        "Sulawesi Selatan",
        (
            "Bantaeng",
            "Barru",
            "Bone",
            "Bulukumba",
            "Enrekang",
            "Gowa",
            "Jeneponto",
            "Kepulauan Selayar",
            "Luwu",
            "Luwu Timur",
            "Luwu Utara",
            "Maros",
            "Pangkajene dan Kepulauan",
            "Pinrang",
            "Sidenreng Rappang",
            "Sinjai",
            "Soppeng",
            "Takalar",
            "Tana Toraja",
            "Toraja Utara",
            "Wajo",
        ),
        ("Makassar", "Palopo", "Parepare"),
    ),
    (
        "SULTRA",
        "Sulawesi Tenggara",
        (
            "Bombana",
            "Buton",
            "Buton Selatan",
            "Buton Tengah",
            "Buton Utara",
            "Kolaka",
            "Kolaka Timur",
            "Kolaka Utara",
            "Konawe",
            "Konawe Kepulauan",
            "Konawe Selatan",
            "Konawe Utara",
            "Muna",
            "Muna Barat",
            "Wakatobi",
        ),
        ("Baubau", "Kendari"),
    ),
    (
        "GORONTALO",
        "Gorontalo",
        ("Boalemo", "Bone Bolango", "Gorontalo", "Gorontalo Utara", "Pohuwato"),
        ("Gorontalo",),
    ),
    (
        "SULBAR",
        "Sulawesi Barat",
        ("Majene", "Mamasa", "Mamuju", "Mamuju Tengah", "Pasangkayu", "Polewali Mandar"),
        (),
    ),
    (
        "MALUKU",
        "Maluku",
        (
            "Buru",
            "Buru Selatan",
            "Kepulauan Aru",
            "Kepulauan Tanimbar",
            "Maluku Barat Daya",
            "Maluku Tengah",
            "Maluku Tenggara",
            "Seram Bagian Barat",
            "Seram Bagian Timur",
        ),
        ("Ambon", "Tual"),
    ),
    (
        "MALUT",
        "Maluku Utara",
        (
            "Halmahera Barat",
            "Halmahera Selatan",
            "Halmahera Tengah",
            "Halmahera Timur",
            "Halmahera Utara",
            "Kepulauan Sula",
            "Pulau Morotai",
            "Pulau Taliabu",
        ),
        ("Ternate", "Tidore Kepulauan"),
    ),
    (
        "PAPUA",
        "Papua",
        (
            "Asmat",
            "Biak Numfor",
            "Boven Digoel",
            "Deiyai",
            "Dogiyai",
            "Intan Jaya",
            "Jayapura",
            "Jayawijaya",
            "Keerom",
            "Kepulauan Yapen",
            "Lanny Jaya",
            "Mamberamo Raya",
            "Mamberamo Tengah",
            "Mappi",
            "Merauke",
            "Mimika",
            "Nabire",
            "Nduga",
            "Paniai",
            "Pegunungan Bintang",
            "Puncak",
            "Puncak Jaya",
            "Sarmi",
            "Supiori",
            "Tolikara",
            "Waropen",
            "Yahukimo",
            "Yalimo",
        ),
        ("Jayapura",),
    ),
    (
        "PAPUABARAT",
        "Papua Barat",
        (
            "Fakfak",
            "Kaimana",
            "Manokwari",
            "Manokwari Selatan",
            "Maybrat",
            "Pegunungan Arfak",
            "Raja Ampat",
            "Sorong",
            "Sorong Selatan",
            "Tambrauw",
            "Teluk Bintuni",
            "Teluk Wondama",
        ),
        ("Sorong",),
    ),
)

# Provinces whose regencies/cities are administrative (named "Kabupaten/Kota Administrasi").
ADMINISTRATIVE_PROVINCES: frozenset[str] = frozenset({"DKI"})

# Real regencies left out only so that provinces + regencies + cities = 544 (the published
# LAPOR! figure). The 2022 official count is 514 regencies/cities (416 kabupaten + 98 kota,
# DKI Jakarta's six administrative ones included); all 514 are listed above. The four left
# out are the youngest regencies (formed 2013-2014); swap freely, the counts are what matter.
OMITTED_TO_MATCH_544: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("SULTRA", "KAB", "Buton Selatan"),
        ("SULTRA", "KAB", "Buton Tengah"),
        ("SULTRA", "KAB", "Muna Barat"),
        ("SULTRA", "KAB", "Konawe Kepulauan"),
    }
)

# No generated (fictional) regency/city names are needed: all 510 are real. If the list
# above were ever shortened below 510, build_rows() fails instead of inventing names.
GENERATED_LOCAL_NAMES: tuple[str, ...] = ()


class Row(NamedTuple):
    code: str
    name: str
    kind: str
    parent: str
    region: str


def slug(text: str) -> str:
    """'Tojo Una-Una' -> 'TOJO-UNA-UNA'; letters, digits and single hyphens only."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return cleaned.upper()


def pick_units(code: str, pool: Sequence[Unit]) -> tuple[Unit, ...]:
    """Pick UNITS_PER_AGENCY units from pool, deterministically per agency, in pool order."""
    ranked = sorted(
        range(len(pool)),
        key=lambda i: hashlib.sha256(f"{code}|{pool[i][0]}".encode()).hexdigest(),
    )
    return tuple(pool[i] for i in sorted(ranked[:UNITS_PER_AGENCY]))


def administrative_unit_name(name: str) -> str:
    """Offices of an administrative city/regency (DKI Jakarta) are 'Suku Dinas'."""
    if name.startswith("Dinas "):
        return f"Suku {name}"
    if name == "Inspektorat Daerah":
        return "Inspektorat Pembantu"
    return name


def unit_rows(parent: str, units: Sequence[Unit]) -> Iterator[Row]:
    if len(units) != UNITS_PER_AGENCY:
        raise ValueError(f"{parent}: expected {UNITS_PER_AGENCY} units, got {len(units)}")
    for suffix, name in units:
        yield Row(f"{parent}.{suffix}", name, "unit", parent, "")


def local_governments() -> list[tuple[str, list[Row]]]:
    """Per province: the province row followed by its regency and city rows (no units)."""
    kab_count: dict[str, int] = {}
    for _prov, _pname, regencies, _cities in PROVINCES:
        for name in regencies:
            kab_count[name] = kab_count.get(name, 0) + 1
    kota_count: dict[str, int] = {}
    for _prov, _pname, _regencies, cities in PROVINCES:
        for name in cities:
            kota_count[name] = kota_count.get(name, 0) + 1

    out: list[tuple[str, list[Row]]] = []
    for prov, pname, regencies, cities in PROVINCES:
        prov_code = f"PROV-{prov}"
        rows = [Row(prov_code, f"Pemerintah Provinsi {pname}", "province", DESK_CODE, prov_code)]
        for prefix, kind, label, names, counts in (
            ("KAB", "regency", "Kabupaten", regencies, kab_count),
            ("KOTA", "city", "Kota", cities, kota_count),
        ):
            for name in names:
                if (prov, prefix, name) in OMITTED_TO_MATCH_544:
                    continue
                code = f"{prefix}-{slug(name)}"
                admin = " Administrasi" if prov in ADMINISTRATIVE_PROVINCES else ""
                full = f"Pemerintah {label}{admin} {name}"
                if counts[name] > 1:  # same name in two provinces: add the province
                    code = f"{code}-{prov}"
                    full = f"{full} ({pname})"
                rows.append(Row(code, full, kind, DESK_CODE, prov_code))
        out.append((prov_code, rows))
    return out


def build_rows() -> list[Row]:
    rows: list[Row] = [Row(DESK_CODE, DESK_NAME, "national_desk", "", "")]

    for code, name, style, third in MINISTRIES:
        rows.append(Row(code, name, "ministry", DESK_CODE, ""))
        rows.extend(unit_rows(code, (*MINISTRY_HEAD_UNITS[style], third)))

    for code, name, pool in INSTITUTIONS:
        rows.append(Row(code, name, "institution", DESK_CODE, ""))
        units = (
            INSTITUTION_FIXED_UNITS[code] if pool == "fixed" else pick_units(code, UNIT_POOLS[pool])
        )
        rows.extend(unit_rows(code, units))

    for _prov_code, local_rows in local_governments():
        for row in local_rows:
            rows.append(row)
            units = pick_units(row.code, UNIT_POOLS["pemda"])
            if row.kind != "province" and row.region[len("PROV-") :] in ADMINISTRATIVE_PROVINCES:
                units = tuple((sfx, administrative_unit_name(name)) for sfx, name in units)
            rows.extend(unit_rows(row.code, units))

    validate(rows)
    return rows


def validate(rows: Sequence[Row]) -> None:
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for row in rows:
        if not CODE_RE.match(row.code):
            raise ValueError(f"bad code {row.code!r}")
        if row.code in seen:
            raise ValueError(f"duplicate code {row.code!r}")
        if row.parent and row.parent not in seen:
            raise ValueError(f"{row.code}: parent {row.parent!r} not defined before it")
        seen.add(row.code)
        counts[row.kind] = counts.get(row.kind, 0) + 1
    local = counts.get("province", 0) + counts.get("regency", 0) + counts.get("city", 0)
    expected = {
        "ministry": EXPECTED_MINISTRIES,
        "institution": EXPECTED_INSTITUTIONS,
    }
    for kind, n in expected.items():
        if counts.get(kind, 0) != n:
            raise ValueError(f"expected {n} {kind} rows, got {counts.get(kind, 0)}")
    if counts.get("province") != 34 or local != EXPECTED_LOCAL:
        raise ValueError(
            f"expected 34 provinces and {EXPECTED_LOCAL} local governments, "
            f"got {counts.get('province')} and {local}"
        )
    if GENERATED_LOCAL_NAMES:
        raise ValueError("generated local government names are not expected")


def render(rows: Sequence[Row]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    rows = build_rows()
    data = render(rows)
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row.kind] = kinds.get(row.kind, 0) + 1
    summary = ", ".join(f"{k}={v}" for k, v in kinds.items())
    print(f"wrote {output} ({len(rows)} rows, {len(data)} bytes): {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
