// Every visible string of the UI, one dictionary per language. Elements built with tr() carry
// their key, so switching the language re-translates the page in place without re-rendering
// (a half-written message keeps its contents).

const dictionaries = {
  en: {
    'app.tagline': 'Head-office broadcast',
    'app.skip': 'Skip to content',
    'nav.label': 'Main',
    'nav.compose': 'Compose',
    'nav.history': 'History',
    'nav.scheduled': 'Scheduled',
    'nav.stores': 'Stores',
    'nav.audit': 'Audit',
    'nav.logout': 'Log out',
    'lang.label': 'Language',
    'lang.en': 'English',
    'lang.id': 'Bahasa Indonesia',
    'role.admin': 'Admin',
    'role.publisher': 'Publisher',

    'login.title': 'Sign in',
    'login.lead': 'Send announcements, price info and discount info to the stores.',
    'login.username': 'Username',
    'login.password': 'Password',
    'login.submit': 'Sign in',
    'login.busy': 'Signing in…',
    'login.invalid': 'Username and password do not match',
    'login.throttled': 'Too many failed attempts. Try again in {seconds} seconds.',
    'login.throttled_one': 'Too many failed attempts. Try again in 1 second.',
    'login.throttled_later': 'Too many failed attempts. Try again later.',
    'login.server_busy': 'Many sign-ins are being checked right now. Try again in a moment.',
    'login.required': 'Enter your username and password.',
    'login.expired': 'Your session has ended. Please sign in again.',
    'login.signed_out': 'You have signed out.',
    'login.unreachable': 'Cannot reach the server, check the connection.',

    'compose.title': 'New message',
    'compose.lead': 'It appears at once as a popup on the store PCs you choose.',
    'compose.targets': 'Recipients',
    'compose.targets_hint': 'Choose all stores, a group or single stores, or type a target such as region:jateng or store:1234.',
    'compose.target_input': 'Add a recipient',
    'compose.target_placeholder': 'store:1234 or region:jateng',
    'compose.target_add': 'Add',
    'compose.target_remove': 'Remove {target}',
    'compose.target_invalid': '“{target}” is not a valid recipient. Use all, store:<id> or kind:name.',
    'compose.target_none': 'Add at least one recipient.',
    'compose.target_max': 'At most {max} recipients.',
    'compose.selected_none': 'No recipients yet.',
    'compose.quick': 'Quick picks',
    'compose.reach': 'Reaches {n} of {total} known stores.',
    'compose.reach_all': 'Reaches every store.',
    'compose.category': 'Category',
    'compose.priority': 'Priority',
    'compose.subject': 'Title',
    'compose.body': 'Message',
    'compose.count_chars': '{n} / {max} characters',
    'compose.count_bytes': '{n} / {max} bytes',
    'compose.title_required': 'Enter a title.',
    'compose.title_long': 'The title is longer than {max} characters.',
    'compose.body_required': 'Enter the message.',
    'compose.body_long': 'The message is longer than {max} bytes.',
    'compose.options': 'Options',
    'compose.expiry': 'Expires',
    'compose.expiry_hint': 'Optional. A store that gets it later records it but does not show it.',
    'compose.expiry_past': 'The expiry time must be in the future.',
    'compose.ack': 'Require acknowledgement',
    'compose.ack_hint': 'Store staff must confirm that they have read it.',
    'compose.send': 'Send message',
    'compose.sending': 'Sending…',
    'compose.clear': 'Clear',
    'compose.preview': 'Preview at the store',
    'compose.preview_title': '(no title)',
    'compose.preview_body': 'The message text appears here.',
    'compose.preview_ok': 'OK, I have read it',
    'compose.preview_close': 'Close',

    'compose.later': 'Send later',
    'compose.later_hint': 'Choose when it goes out, in your local time ({zone}).',
    'compose.later_date': 'Date',
    'compose.later_time': 'Time',
    'compose.later_required': 'Choose the date and time to send it.',
    'compose.later_past': 'The send time must be in the future.',
    'compose.schedule': 'Schedule message',
    'compose.scheduling': 'Scheduling…',

    'correct.button': 'Correct',
    'correct.button_label': 'Correct this message: send a fixed version in its place',
    'correct.note': 'Correcting message “{title}” ({id})',
    'correct.note_hint': 'Sending recalls the original from every store and shows this one in its place. The recipients may be the original’s or fewer.',
    'correct.original': 'Open the original',
    'correct.stop': 'Stop correcting',
    'correct.send': 'Send correction',
    'correct.sent': 'Correction sent: the original message was recalled',
    'correct.loading': 'Loading the message to correct…',
    'correct.load_failed': 'The message to correct could not be loaded.',
    'correct.not_found': 'The message to correct was not found.',
    'correct.badge': 'Correction',
    'correct.corrects': 'Corrects',

    'notice.sent': 'Message sent',
    'notice.sent_detail': 'Message id {id}.',
    'notice.sent_link': 'Follow its delivery',
    'notice.scheduled': 'Message scheduled for {time}',
    'notice.scheduled_detail': 'Message id {id}. It goes out then to every recipient.',
    'notice.scheduled_link': 'See scheduled messages',
    'notice.not_sent': 'Message not sent, check the connection',
    'notice.invalid': 'Message not sent: check the highlighted field.',
    'notice.check_form': 'Check the highlighted fields.',
    'notice.forbidden': 'You are not allowed to do this.',
    'notice.forbidden_send': 'Message not sent: you may not send to these recipients.',
    'notice.error': 'Something went wrong ({code}).',
    'notice.load_failed': 'Could not load the data, check the connection.',
    'notice.dismiss': 'Dismiss',

    'category.announcement': 'Announcement',
    'category.price_info': 'Price info',
    'category.discount_info': 'Discount info',
    'priority.normal': 'Normal',
    'priority.high': 'High',
    'priority.urgent': 'Urgent',
    'target.all': 'All stores',

    'history.title': 'History',
    'history.lead': 'Messages sent, newest first, with how far each has got.',
    'history.refresh': 'Refresh',
    'history.empty': 'No messages yet.',
    'history.more': 'Load more',
    'history.loading': 'Loading…',
    'history.end': 'That is all.',
    'history.col_time': 'Sent',
    'history.col_message': 'Message',
    'history.col_targets': 'Recipients',
    'history.col_receipts': 'Receipts',
    'history.more_targets': '+{n} more',
    'history.ack': 'Needs acknowledgement',

    'receipts.expected': 'Expected',
    'receipts.delivered': 'Delivered',
    'receipts.displayed': 'Shown',
    'receipts.acknowledged': 'Acknowledged',
    'receipts.rejected': 'Rejected',
    'receipts.recalled': 'Recalled',
    'receipts.count': '{n} of {total}',
    'receipts.none_expected': 'No store expected yet',
    'receipts.unknown': 'Receipts unavailable',

    'detail.title': 'Message',
    'detail.back': 'Back to history',
    'detail.id': 'Id',
    'detail.sent_at': 'Sent',
    'detail.sender': 'Sender',
    'detail.category': 'Category',
    'detail.priority': 'Priority',
    'detail.targets': 'Recipients',
    'detail.expires': 'Expires',
    'detail.never': 'Never',
    'detail.ack': 'Acknowledgement',
    'detail.ack_yes': 'Required',
    'detail.ack_no': 'Not required',
    'detail.stores': 'Stores',
    'detail.col_store': 'Store',
    'detail.col_state': 'State',
    'detail.col_at': 'Since',
    'detail.missing_n': '{n} stores have not reported yet.',
    'detail.missing_n_one': '1 store has not reported yet.',
    'detail.rejected_n': '{n} stores refused a copy of this message: its signature did not verify, or it was not addressed to them. Someone may be writing to Redis.',
    'detail.rejected_n_one': '1 store refused a copy of this message: its signature did not verify, or it was not addressed to it. Someone may be writing to Redis.',
    'detail.none': 'No store has reported yet.',
    'detail.not_found': 'Message not found.',
    'detail.auto': 'Updates every {s} seconds. Last update {time}.',
    'detail.filter_all': 'All ({n})',
    'detail.filter_problems': 'Problems ({n})',
    'detail.filter_waiting': 'Not reported ({n})',
    'detail.filter_label': 'Show',

    'recall.button': 'Recall',
    'recall.button_label': 'Recall this message from every store',
    'recall.confirm_title': 'Recall this message?',
    'recall.confirm_body': 'Stores that have not shown “{title}” yet will never show it, and its popups that are still open are closed. This cannot be undone.',
    'recall.confirm_ok': 'Recall message',
    'recall.confirm_keep': 'Keep it',
    'recall.busy': 'Recalling…',
    'recall.done': 'Message recalled',
    'recall.not_recalled': 'Message not recalled, check the connection',
    'recall.scheduled': 'This message has not gone out yet: cancel it on the Scheduled page instead.',
    'recall.badge': 'Recalled',
    'recall.by': 'Recalled by {by}, {time}.',
    'recall.corrected_by': 'Corrected by',

    'state.delivered': 'Delivered',
    'state.displayed': 'Shown',
    'state.acknowledged': 'Acknowledged',
    'state.expired': 'Expired',
    'state.failed': 'Failed',
    'state.gap': 'Missed (history gap)',
    'state.missing': 'Not reported yet',
    'state.pending': 'Pending',
    'state.rejected': 'Rejected (not signed by head office, or not for this store)',
    'state.recalled': 'Recalled',

    'scheduled.title': 'Scheduled',
    'scheduled.lead': 'Messages waiting to go out, soonest first.',
    'scheduled.empty': 'No scheduled messages.',
    'scheduled.col_send_at': 'Goes out',
    'scheduled.col_message': 'Message',
    'scheduled.col_targets': 'Recipients',
    'scheduled.col_sender': 'Sender',
    'scheduled.col_state': 'State',
    'scheduled.col_action': 'Action',
    'scheduled.state_scheduled': 'Scheduled',
    'scheduled.state_sending': 'Sending now',
    'scheduled.cancel': 'Cancel',
    'scheduled.cancel_label': 'Cancel “{title}”',
    'scheduled.confirm_title': 'Cancel this scheduled message?',
    'scheduled.confirm_body': '“{title}” will not be sent on {time}.',
    'scheduled.confirm_ok': 'Cancel message',
    'scheduled.confirm_keep': 'Keep it',
    'scheduled.cancelled': 'Scheduled message cancelled',
    'scheduled.too_late': 'Too late to cancel: the message is being sent or has already gone out.',
    'scheduled.gone': 'This scheduled message no longer exists: it was already sent or cancelled.',
    'scheduled.not_cancelled': 'Not cancelled, check the connection',
    'scheduled.auto': 'Updates every {s} seconds.',
    'audit.title': 'Audit log',
    'audit.lead': 'Who did what, from where, newest first: logins, sends, recalls, corrections, schedules, cancellations, token use and reloads.',
    'audit.empty': 'Nothing recorded yet.',
    'audit.end': 'That is the oldest entry kept.',
    'audit.admins_only': 'Only an admin may read the audit log.',
    'audit.col_at': 'Time',
    'audit.col_actor': 'Who',
    'audit.col_address': 'From',
    'audit.col_action': 'Action',
    'audit.col_message': 'Message',
    'audit.col_result': 'Result',
    'audit.result_ok': 'OK',
    'audit.action_login': 'Login',
    'audit.action_send': 'Send',
    'audit.action_recall': 'Recall',
    'audit.action_correction': 'Correction',
    'audit.action_schedule': 'Schedule',
    'audit.action_cancel': 'Cancel',
    'audit.action_scheduled_send': 'Scheduled message sent',
    'audit.action_token_use': 'Token used',
    'audit.action_users_reload': 'Users reloaded',
    'audit.action_config_reload': 'Configuration reloaded',
    'audit.action_escalation': 'Escalation',

    'stores.title': 'Stores',
    'stores.lead': 'Every store PC that has reported in, and whether it is online now.',
    'stores.summary': '{online} of {total} online',
    'stores.online': 'Online',
    'stores.offline': 'Offline',
    'stores.col_store': 'Store',
    'stores.col_status': 'Status',
    'stores.col_groups': 'Groups',
    'stores.col_last_seen': 'Last seen',
    'stores.col_action': 'Action',
    'stores.send': 'Send message',
    'stores.send_to': 'Send a message to store {id}',
    'stores.empty': 'No store has reported in yet.',
    'stores.no_match': 'No store matches the filter.',
    'stores.filter': 'Filter',
    'stores.filter_placeholder': 'Store id or group',
    'stores.show': 'Show',
    'stores.show_all': 'All',
    'stores.show_online': 'Online',
    'stores.show_offline': 'Offline',
    'stores.auto': 'Updates every {s} seconds.',
    'stores.no_groups': 'none',

    'time.never': 'never',
    'time.now': 'just now',
  },

  id: {
    'app.tagline': 'Siaran kantor pusat',
    'app.skip': 'Langsung ke konten',
    'nav.label': 'Utama',
    'nav.compose': 'Tulis pesan',
    'nav.history': 'Riwayat',
    'nav.scheduled': 'Terjadwal',
    'nav.stores': 'Toko',
    'nav.audit': 'Audit',
    'nav.logout': 'Keluar',
    'lang.label': 'Bahasa',
    'lang.en': 'English',
    'lang.id': 'Bahasa Indonesia',
    'role.admin': 'Admin',
    'role.publisher': 'Pengirim',

    'login.title': 'Masuk',
    'login.lead': 'Kirim pengumuman, info harga, dan info diskon ke toko-toko.',
    'login.username': 'Nama pengguna',
    'login.password': 'Kata sandi',
    'login.submit': 'Masuk',
    'login.busy': 'Sedang masuk…',
    'login.invalid': 'Nama pengguna dan kata sandi tidak cocok',
    'login.throttled': 'Terlalu banyak percobaan gagal. Coba lagi dalam {seconds} detik.',
    'login.throttled_later': 'Terlalu banyak percobaan gagal. Coba lagi nanti.',
    'login.server_busy': 'Server sedang memeriksa banyak percobaan masuk. Coba lagi sebentar lagi.',
    'login.required': 'Isi nama pengguna dan kata sandi.',
    'login.expired': 'Sesi Anda telah berakhir. Silakan masuk kembali.',
    'login.signed_out': 'Anda telah keluar.',
    'login.unreachable': 'Server tidak dapat dihubungi, periksa koneksi.',

    'compose.title': 'Pesan baru',
    'compose.lead': 'Pesan langsung muncul sebagai pop-up di komputer toko yang Anda pilih.',
    'compose.targets': 'Penerima',
    'compose.targets_hint': 'Pilih semua toko, sebuah grup, atau toko tertentu, atau ketik target seperti region:jateng atau store:1234.',
    'compose.target_input': 'Tambah penerima',
    'compose.target_placeholder': 'store:1234 atau region:jateng',
    'compose.target_add': 'Tambah',
    'compose.target_remove': 'Hapus {target}',
    'compose.target_invalid': '“{target}” bukan penerima yang valid. Gunakan all, store:<id> atau jenis:nama.',
    'compose.target_none': 'Tambahkan minimal satu penerima.',
    'compose.target_max': 'Paling banyak {max} penerima.',
    'compose.selected_none': 'Belum ada penerima.',
    'compose.quick': 'Pilihan cepat',
    'compose.reach': 'Menjangkau {n} dari {total} toko yang dikenal.',
    'compose.reach_all': 'Menjangkau semua toko.',
    'compose.category': 'Kategori',
    'compose.priority': 'Prioritas',
    'compose.subject': 'Judul',
    'compose.body': 'Isi pesan',
    'compose.count_chars': '{n} / {max} karakter',
    'compose.count_bytes': '{n} / {max} byte',
    'compose.title_required': 'Isi judul pesan.',
    'compose.title_long': 'Judul lebih dari {max} karakter.',
    'compose.body_required': 'Isi pesan belum diisi.',
    'compose.body_long': 'Isi pesan lebih dari {max} byte.',
    'compose.options': 'Pilihan',
    'compose.expiry': 'Kedaluwarsa',
    'compose.expiry_hint': 'Opsional. Toko yang menerimanya setelah waktu ini hanya mencatat, tidak menampilkan.',
    'compose.expiry_past': 'Waktu kedaluwarsa harus di masa depan.',
    'compose.ack': 'Wajib konfirmasi',
    'compose.ack_hint': 'Karyawan toko harus mengonfirmasi bahwa pesan sudah dibaca.',
    'compose.send': 'Kirim pesan',
    'compose.sending': 'Mengirim…',
    'compose.clear': 'Kosongkan',
    'compose.preview': 'Pratinjau di toko',
    'compose.preview_title': '(tanpa judul)',
    'compose.preview_body': 'Isi pesan tampil di sini.',
    'compose.preview_ok': 'OK, sudah saya baca',
    'compose.preview_close': 'Tutup',

    'compose.later': 'Kirim nanti',
    'compose.later_hint': 'Pilih kapan pesan dikirim, dalam waktu setempat Anda ({zone}).',
    'compose.later_date': 'Tanggal',
    'compose.later_time': 'Jam',
    'compose.later_required': 'Pilih tanggal dan jam pengiriman.',
    'compose.later_past': 'Waktu pengiriman harus di masa depan.',
    'compose.schedule': 'Jadwalkan pesan',
    'compose.scheduling': 'Menjadwalkan…',

    'correct.button': 'Koreksi',
    'correct.button_label': 'Koreksi pesan ini: kirim versi yang benar sebagai gantinya',
    'correct.note': 'Mengoreksi pesan “{title}” ({id})',
    'correct.note_hint': 'Saat dikirim, pesan asli ditarik dari semua toko dan pesan ini tampil sebagai gantinya. Penerimanya harus sama dengan pesan asli atau lebih sedikit.',
    'correct.original': 'Buka pesan asli',
    'correct.stop': 'Batalkan koreksi',
    'correct.send': 'Kirim koreksi',
    'correct.sent': 'Koreksi terkirim: pesan asli telah ditarik',
    'correct.loading': 'Memuat pesan yang akan dikoreksi…',
    'correct.load_failed': 'Pesan yang akan dikoreksi tidak dapat dimuat.',
    'correct.not_found': 'Pesan yang akan dikoreksi tidak ditemukan.',
    'correct.badge': 'Koreksi',
    'correct.corrects': 'Mengoreksi',

    'notice.sent': 'Pesan terkirim',
    'notice.sent_detail': 'Id pesan {id}.',
    'notice.sent_link': 'Pantau pengirimannya',
    'notice.scheduled': 'Pesan dijadwalkan untuk {time}',
    'notice.scheduled_detail': 'Id pesan {id}. Pesan dikirim ke semua penerima pada waktu itu.',
    'notice.scheduled_link': 'Lihat pesan terjadwal',
    'notice.not_sent': 'Pesan tidak terkirim, periksa koneksi',
    'notice.invalid': 'Pesan tidak terkirim: periksa isian yang ditandai.',
    'notice.check_form': 'Periksa isian yang ditandai.',
    'notice.forbidden': 'Anda tidak diizinkan melakukan ini.',
    'notice.forbidden_send': 'Pesan tidak terkirim: Anda tidak boleh mengirim ke penerima ini.',
    'notice.error': 'Terjadi kesalahan ({code}).',
    'notice.load_failed': 'Data tidak dapat dimuat, periksa koneksi.',
    'notice.dismiss': 'Tutup',

    'category.announcement': 'Pengumuman',
    'category.price_info': 'Info Harga',
    'category.discount_info': 'Info Diskon',
    'priority.normal': 'Biasa',
    'priority.high': 'Tinggi',
    'priority.urgent': 'Mendesak',
    'target.all': 'Semua toko',

    'history.title': 'Riwayat',
    'history.lead': 'Pesan yang terkirim, terbaru di atas, beserta sejauh mana sampainya.',
    'history.refresh': 'Muat ulang',
    'history.empty': 'Belum ada pesan.',
    'history.more': 'Muat lebih banyak',
    'history.loading': 'Memuat…',
    'history.end': 'Sudah semua.',
    'history.col_time': 'Dikirim',
    'history.col_message': 'Pesan',
    'history.col_targets': 'Penerima',
    'history.col_receipts': 'Tanda terima',
    'history.more_targets': '+{n} lagi',
    'history.ack': 'Perlu konfirmasi',

    'receipts.expected': 'Diharapkan',
    'receipts.delivered': 'Diterima',
    'receipts.displayed': 'Ditampilkan',
    'receipts.acknowledged': 'Dikonfirmasi',
    'receipts.rejected': 'Ditolak',
    'receipts.recalled': 'Ditarik',
    'receipts.count': '{n} dari {total}',
    'receipts.none_expected': 'Belum ada toko yang diharapkan',
    'receipts.unknown': 'Tanda terima tidak tersedia',

    'detail.title': 'Pesan',
    'detail.back': 'Kembali ke riwayat',
    'detail.id': 'Id',
    'detail.sent_at': 'Dikirim',
    'detail.sender': 'Pengirim',
    'detail.category': 'Kategori',
    'detail.priority': 'Prioritas',
    'detail.targets': 'Penerima',
    'detail.expires': 'Kedaluwarsa',
    'detail.never': 'Tidak pernah',
    'detail.ack': 'Konfirmasi',
    'detail.ack_yes': 'Wajib',
    'detail.ack_no': 'Tidak wajib',
    'detail.stores': 'Toko',
    'detail.col_store': 'Toko',
    'detail.col_state': 'Status',
    'detail.col_at': 'Sejak',
    'detail.missing_n': '{n} toko belum melapor.',
    'detail.rejected_n': '{n} toko menolak salinan pesan ini: tanda tangannya tidak sah, atau pesan ini bukan untuk toko tersebut. Mungkin ada pihak lain yang menulis ke Redis.',
    'detail.none': 'Belum ada toko yang melapor.',
    'detail.not_found': 'Pesan tidak ditemukan.',
    'detail.auto': 'Diperbarui setiap {s} detik. Terakhir {time}.',
    'detail.filter_all': 'Semua ({n})',
    'detail.filter_problems': 'Bermasalah ({n})',
    'detail.filter_waiting': 'Belum melapor ({n})',
    'detail.filter_label': 'Tampilkan',

    'recall.button': 'Tarik pesan',
    'recall.button_label': 'Tarik pesan ini dari semua toko',
    'recall.confirm_title': 'Tarik pesan ini?',
    'recall.confirm_body': 'Toko yang belum menampilkan “{title}” tidak akan pernah menampilkannya, dan pop-up pesan ini yang masih terbuka akan ditutup. Tindakan ini tidak dapat dibatalkan.',
    'recall.confirm_ok': 'Tarik pesan',
    'recall.confirm_keep': 'Biarkan',
    'recall.busy': 'Menarik…',
    'recall.done': 'Pesan ditarik',
    'recall.not_recalled': 'Pesan tidak ditarik, periksa koneksi',
    'recall.scheduled': 'Pesan ini belum dikirim: batalkan di halaman Terjadwal.',
    'recall.badge': 'Ditarik',
    'recall.by': 'Ditarik oleh {by}, {time}.',
    'recall.corrected_by': 'Dikoreksi oleh',

    'state.delivered': 'Diterima',
    'state.displayed': 'Ditampilkan',
    'state.acknowledged': 'Dikonfirmasi',
    'state.expired': 'Kedaluwarsa',
    'state.failed': 'Gagal',
    'state.gap': 'Terlewat (celah riwayat)',
    'state.missing': 'Belum melapor',
    'state.pending': 'Menunggu',
    'state.rejected': 'Ditolak (bukan tanda tangan kantor pusat, atau bukan untuk toko ini)',
    'state.recalled': 'Ditarik',

    'scheduled.title': 'Terjadwal',
    'scheduled.lead': 'Pesan yang menunggu dikirim, yang paling dekat di atas.',
    'scheduled.empty': 'Tidak ada pesan terjadwal.',
    'scheduled.col_send_at': 'Dikirim pada',
    'scheduled.col_message': 'Pesan',
    'scheduled.col_targets': 'Penerima',
    'scheduled.col_sender': 'Pengirim',
    'scheduled.col_state': 'Status',
    'scheduled.col_action': 'Aksi',
    'scheduled.state_scheduled': 'Terjadwal',
    'scheduled.state_sending': 'Sedang dikirim',
    'scheduled.cancel': 'Batalkan',
    'scheduled.cancel_label': 'Batalkan “{title}”',
    'scheduled.confirm_title': 'Batalkan pesan terjadwal ini?',
    'scheduled.confirm_body': '“{title}” tidak akan dikirim pada {time}.',
    'scheduled.confirm_ok': 'Batalkan pesan',
    'scheduled.confirm_keep': 'Biarkan',
    'scheduled.cancelled': 'Pesan terjadwal dibatalkan',
    'scheduled.too_late': 'Sudah terlambat untuk membatalkan: pesan sedang atau sudah dikirim.',
    'scheduled.gone': 'Pesan terjadwal ini sudah tidak ada: sudah dikirim atau sudah dibatalkan.',
    'scheduled.not_cancelled': 'Tidak dibatalkan, periksa koneksi',
    'scheduled.auto': 'Diperbarui setiap {s} detik.',
    'audit.title': 'Log audit',
    'audit.lead': 'Siapa melakukan apa, dari mana, yang terbaru di atas: login, pengiriman, penarikan, koreksi, penjadwalan, pembatalan, pemakaian token dan muat ulang.',
    'audit.empty': 'Belum ada yang tercatat.',
    'audit.end': 'Itu catatan tertua yang disimpan.',
    'audit.admins_only': 'Hanya admin yang boleh membaca log audit.',
    'audit.col_at': 'Waktu',
    'audit.col_actor': 'Siapa',
    'audit.col_address': 'Dari',
    'audit.col_action': 'Tindakan',
    'audit.col_message': 'Pesan',
    'audit.col_result': 'Hasil',
    'audit.result_ok': 'Berhasil',
    'audit.action_login': 'Login',
    'audit.action_send': 'Kirim',
    'audit.action_recall': 'Tarik kembali',
    'audit.action_correction': 'Koreksi',
    'audit.action_schedule': 'Jadwalkan',
    'audit.action_cancel': 'Batalkan',
    'audit.action_scheduled_send': 'Pesan terjadwal terkirim',
    'audit.action_token_use': 'Token dipakai',
    'audit.action_users_reload': 'Pengguna dimuat ulang',
    'audit.action_config_reload': 'Konfigurasi dimuat ulang',
    'audit.action_escalation': 'Eskalasi',

    'stores.title': 'Toko',
    'stores.lead': 'Semua komputer toko yang pernah melapor, dan apakah sedang daring.',
    'stores.summary': '{online} dari {total} daring',
    'stores.online': 'Daring',
    'stores.offline': 'Luring',
    'stores.col_store': 'Toko',
    'stores.col_status': 'Status',
    'stores.col_groups': 'Grup',
    'stores.col_last_seen': 'Terakhir terlihat',
    'stores.col_action': 'Aksi',
    'stores.send': 'Kirim pesan',
    'stores.send_to': 'Kirim pesan ke toko {id}',
    'stores.empty': 'Belum ada toko yang melapor.',
    'stores.no_match': 'Tidak ada toko yang cocok.',
    'stores.filter': 'Saring',
    'stores.filter_placeholder': 'Id toko atau grup',
    'stores.show': 'Tampilkan',
    'stores.show_all': 'Semua',
    'stores.show_online': 'Daring',
    'stores.show_offline': 'Luring',
    'stores.auto': 'Diperbarui setiap {s} detik.',
    'stores.no_groups': 'tidak ada',

    'time.never': 'belum pernah',
    'time.now': 'baru saja',
  },
};

export const languages = ['en', 'id'];
const storageKey = 'bcast.lang';
const listeners = new Set();

function initialLanguage() {
  try {
    const saved = localStorage.getItem(storageKey);
    if (languages.includes(saved)) return saved;
  } catch {
    // Storage may be disabled; fall through to the browser's language.
  }
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const tag of preferred) {
    const base = String(tag || '').toLowerCase().split('-')[0];
    if (base === 'id' || base === 'in' || base === 'ms') return 'id';
    if (base === 'en') return 'en';
  }
  return 'en';
}

let current = initialLanguage();

export function lang() {
  return current;
}

// The BCP 47 locale for dates and numbers.
export function locale() {
  return current === 'id' ? 'id-ID' : 'en-GB';
}

// A key may have a `<key>_one` form for a count of one ({n} or {seconds} equal to 1); Bahasa
// Indonesia needs none.
export function t(key, vars) {
  const dict = dictionaries[current];
  const one = vars && (vars.n === 1 || vars.seconds === 1) ? dict[`${key}_one`] : undefined;
  const text = one ?? dict[key] ?? dictionaries.en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

export function has(key) {
  return key in dictionaries[current] || key in dictionaries.en;
}

export function setLang(next) {
  if (!languages.includes(next) || next === current) return;
  current = next;
  try {
    localStorage.setItem(storageKey, next);
  } catch {
    // Not remembered, but the switch still works for this page.
  }
  applyI18n(document);
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// Binds an element's text (or an attribute) to a dictionary key.
// tr(el, 'key', vars) sets textContent; tr(el, 'key', vars, 'aria-label') sets the attribute.
export function tr(el, key, vars, attr) {
  const name = attr ? `i18n${attr.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase())}` : 'i18n';
  el.dataset[name] = key;
  if (vars) el.dataset[`${name}Vars`] = JSON.stringify(vars);
  else delete el.dataset[`${name}Vars`];
  const text = t(key, vars);
  if (attr) el.setAttribute(attr, text);
  else el.textContent = text;
  return el;
}

const boundAttrs = ['aria-label', 'placeholder', 'title'];

export function applyI18n(root) {
  document.documentElement.lang = current;
  const vars = (el, name) => {
    const raw = el.dataset[`${name}Vars`];
    return raw ? JSON.parse(raw) : undefined;
  };
  for (const el of root.querySelectorAll('[data-i18n]')) {
    el.textContent = t(el.dataset.i18n, vars(el, 'i18n'));
  }
  for (const attr of boundAttrs) {
    const name = `i18n${attr.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase())}`;
    const selector = `[data-i18n-${attr}]`;
    for (const el of root.querySelectorAll(selector)) {
      el.setAttribute(attr, t(el.dataset[name], vars(el, name)));
    }
  }
}
