# Written by hand from makemigrations --dry-run -v 3 (payments only).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('dossiers', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='Payment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reference', models.CharField(help_text='Mã đơn hàng gửi cổng thanh toán (không đoán được).', max_length=32, unique=True, verbose_name='mã giao dịch')),
                ('idempotency_key', models.CharField(help_text='Hồ sơ và lần thanh toán: một lần bấm đúp không tạo hai giao dịch.', max_length=64, unique=True, verbose_name='khóa chống trùng')),
                ('amount_vnd', models.BigIntegerField(verbose_name='số tiền (đồng)')),
                ('fee_lines', models.JSONField(default=list, verbose_name='các khoản phí, lệ phí')),
                ('state', models.CharField(choices=[('pending', 'Chờ thanh toán'), ('paid', 'Đã thanh toán'), ('failed', 'Thanh toán không thành công'), ('cancelled', 'Đã hủy thanh toán')], default='pending', max_length=16, verbose_name='trạng thái')),
                ('gateway', models.CharField(max_length=32, verbose_name='cổng thanh toán')),
                ('gateway_reference', models.CharField(blank=True, max_length=64, verbose_name='mã giao dịch của cổng')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='tạo lúc')),
                ('paid_at', models.DateTimeField(blank=True, null=True, verbose_name='thanh toán lúc')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='kết thúc lúc')),
                ('dossier', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='dossiers.dossier', verbose_name='hồ sơ')),
            ],
            options={
                'verbose_name': 'thanh toán trực tuyến',
                'verbose_name_plural': 'thanh toán trực tuyến',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='PaymentCallback',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('received_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('source', models.CharField(choices=[('callback', 'Cổng gọi lại'), ('return', 'Trình duyệt quay về')], max_length=16)),
                ('outcome', models.CharField(choices=[('applied', 'Đã ghi nhận'), ('replay', 'Lặp lại, không thay đổi'), ('refused', 'Từ chối')], max_length=16)),
                ('reason', models.CharField(blank=True, max_length=64)),
                ('data', models.JSONField(default=dict)),
                ('remote_addr', models.GenericIPAddressField(blank=True, null=True)),
                ('payment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='callbacks', to='payments.payment')),
            ],
            options={
                'verbose_name': 'phản hồi của cổng thanh toán',
                'verbose_name_plural': 'phản hồi của cổng thanh toán',
                'ordering': ['-received_at', '-id'],
            },
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.UniqueConstraint(condition=models.Q(('state__in', ['pending', 'paid'])), fields=('dossier',), name='payment_one_live_per_dossier'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('amount_vnd__gt', 0)), name='payment_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ['pending', 'paid', 'failed', 'cancelled'])), name='payment_state_valid'),
        ),
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'paid'), _negated=True), ('paid_at__isnull', False), _connector='OR'), name='payment_paid_has_time'),
        ),
    ]
